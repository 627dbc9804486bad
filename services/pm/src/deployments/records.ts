import { Schema } from "effect"
import {
  Class,
  type Deployment,
  Deployment as DeploymentSchema,
  type DeploymentStatus,
  type DeploymentUnit,
  deploymentUnitId,
  Function as FunctionSchema,
  type Package,
} from "@oprc/models"

/**
 * What the PM stores per deployment: the user's spec plus everything needed to rebuild each
 * cluster's DeploymentUnit without the package (a snapshot of the class and the functions it
 * binds), so a deployment keeps running as declared even while its package is being edited.
 */
export const DeploymentRecord = Schema.Struct({
  /** The spec as accepted (status stripped, revision 0; both are filled in when read). */
  deployment: DeploymentSchema,
  packageVersion: Schema.String,
  cls: Class,
  functions: Schema.Array(FunctionSchema),
  /** Bumped on every change of desired state; CRMs acknowledge generations. */
  generation: Schema.Number,
  /** Deletion requested: units are being removed, then the record is. */
  deleting: Schema.Boolean,
})
export type DeploymentRecord = typeof DeploymentRecord.Type

/** The class `classKey` of `pkg` and the functions its bindings use, in binding order. */
export const resolveClass = (pkg: Package, classKey: string) => {
  const cls = pkg.classes.find((c) => c.key === classKey)
  if (cls === undefined) return undefined
  const wanted = new Set(cls.bindings.map((b) => b.function))
  return { cls, functions: pkg.functions.filter((f) => wanted.has(f.key)) }
}

/** The unit one cluster's CRM receives. Its id is stable across updates: `<deployment key>-<cluster>`. */
export const unitFor = (record: DeploymentRecord, cluster: string): DeploymentUnit => {
  const d = record.deployment
  return {
    id: deploymentUnitId(d.key, cluster),
    deploymentKey: d.key,
    packageName: d.packageName,
    packageVersion: record.packageVersion,
    cluster,
    cls: record.cls,
    functions: record.functions,
    nfr: d.nfr,
    enforcement: d.enforcement,
    template: d.clusterTemplates[cluster] ?? "",
    // replicaCount 0 means one data-grid replica per placed cluster.
    odgm: { ...d.odgm, replicaCount: d.odgm.replicaCount === 0 ? d.placedClusters.length : d.odgm.replicaCount },
    generation: record.generation,
    labels: { "oprc.dev/deployment": d.key, "oprc.dev/package": d.packageName, "oprc.dev/class": d.classKey },
  }
}

/** The deployment as clients see it: spec, storage revision and status. */
export const deploymentView = (record: DeploymentRecord, revision: bigint, status: DeploymentStatus): Deployment => ({
  ...record.deployment,
  revision: Number(revision),
  status,
})

/** Did the part of the desired state that reaches CRMs change? (Otherwise no new generation.) */
export const sameDesiredState = (a: DeploymentRecord, b: DeploymentRecord): boolean => {
  const units = (r: DeploymentRecord) =>
    JSON.stringify(r.deployment.placedClusters.map((c) => ({ ...unitFor(r, c), generation: 0 })))
  return units(a) === units(b)
}
