import {
  type ClusterDeploymentStatus,
  type DeploymentPhase,
  type DeploymentStatus,
  deploymentUnitId,
} from "@oprc/models"
import type { DeploymentRecord } from "./records"

/**
 * The overall phase of a deployment from its clusters' phases (documented in docs/pm.md):
 * - Deleting: deletion was requested; units are being removed.
 * - Running: every placed cluster runs the current generation.
 * - Degraded: at least one cluster serves (Running or Degraded) but not all are Running.
 * - Deploying: nothing serves yet and at least one cluster is rolling the unit out.
 * - Failed: nothing serves or deploys, and at least one cluster reported Failed.
 * - Pending: no cluster has acknowledged the unit yet (e.g. its CRM is unreachable).
 */
export const overallPhase = (deleting: boolean, phases: ReadonlyArray<DeploymentPhase>): DeploymentPhase => {
  if (deleting) return "Deleting"
  if (phases.length === 0) return "Pending"
  if (phases.every((p) => p === "Running")) return "Running"
  if (phases.some((p) => p === "Running" || p === "Degraded")) return "Degraded"
  if (phases.some((p) => p === "Deploying")) return "Deploying"
  if (phases.some((p) => p === "Failed")) return "Failed"
  return "Pending"
}

const reasonOf: Record<DeploymentPhase, string> = {
  Running: "AllClustersRunning",
  Degraded: "ClustersNotRunning",
  Deploying: "RollingOut",
  Failed: "ClustersFailed",
  Pending: "AwaitingClusters",
  Deleting: "Deleting",
}

/** A placed cluster nothing has been sent to yet. */
export const scheduled = (record: DeploymentRecord, cluster: string): ClusterDeploymentStatus => ({
  cluster,
  unitId: deploymentUnitId(record.deployment.key, cluster),
  phase: "Pending",
  conditions: [],
  reason: "Scheduled",
  message: "waiting to be sent to the cluster's CRM",
  acknowledgedGeneration: 0,
})

const line = (c: ClusterDeploymentStatus) =>
  `${c.cluster}: ${c.phase}${c.reason !== "" ? ` (${c.reason}${c.message !== "" ? `: ${c.message}` : ""})` : ""}`

/** The deployment's status: its placed clusters' entries (in placement order) and the overall phase with reasons. */
export const aggregate = (
  record: DeploymentRecord,
  entries: ReadonlyArray<ClusterDeploymentStatus>,
  now: number,
): DeploymentStatus => {
  const placed = record.deleting ? [] : record.deployment.placedClusters
  const byName = new Map(entries.map((e) => [e.cluster, e]))
  const current = placed.map((c) => byName.get(c) ?? scheduled(record, c))
  const retiring = entries.filter((e) => !placed.includes(e.cluster))
  const phase = overallPhase(record.deleting, current.map((c) => c.phase))
  const troubled = current.filter((c) => c.phase !== "Running")
  const message = phase === "Deleting"
    ? retiring.length === 0 ? "all units removed" : `removing units from ${retiring.map(line).join("; ")}`
    : phase === "Running"
    ? `running on ${placed.join(", ")} (generation ${record.generation})`
    : troubled.map(line).join("; ")
  return {
    phase,
    reason: reasonOf[phase],
    message,
    clusters: [...current, ...retiring],
    updatedAt: now,
    // Deployment-wide conditions (ReferencesResolved) are added when the deployment is read (rest/rpc).
    conditions: [],
  }
}

/** A status with the fields that change without meaning anything (timestamps) removed, to skip no-op writes. */
export const statusFingerprint = (s: DeploymentStatus): string =>
  JSON.stringify({ ...s, updatedAt: 0, clusters: s.clusters.map((c) => ({ ...c, lastContact: 0 })) })

/** The status of a deployment the reconciler has not looked at yet. */
export const initialStatus = (record: DeploymentRecord, now: number): DeploymentStatus => aggregate(record, [], now)
