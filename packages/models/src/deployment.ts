import { type Effect, Schema } from "effect"
import { tracedFn } from "@oprc/observability"
import { Condition } from "./condition"
import { Consistency, DeploymentPhase, EnforcementMode, StorageEngine } from "./enums"
import type { ValidationError } from "./errors"
import {
  ClassKey,
  DnsLabel,
  isDnsLabel,
  Millis,
  NonEmpty,
  optArray,
  optLiteral,
  optNonNegative,
  optString,
  optStringMap,
  optStruct,
  optUInt,
  optUInt32,
  PackageName,
  withDefault,
} from "./fields"
import { checkInputShape, PackageLimits, packageShape } from "./input-limits"
import { decodeWith } from "./issues"
import { Class, Function, Version } from "./package"
import { classIssues, type PathIssue } from "./package-checks"

/** Deployment, its status, and the DeploymentUnit sent to one cluster: oprc.common.v1's deployment.proto. */

/** A cluster name (from the PM's configuration): DNS-1123 label. */
export const ClusterName = DnsLabel
export const DeploymentKey = DnsLabel.pipe(Schema.brand("DeploymentKey"))
export type DeploymentKey = typeof DeploymentKey.Type

export const MAX_PARTITIONS = 1024

/** Non-functional requirements; 0 means "not required". */
export const Nfr = Schema.Struct({
  minThroughputRps: optNonNegative,
  maxLatencyP99Ms: optNonNegative,
  availability: withDefault(
    Schema.Number.check(
      Schema.makeFilter((n: number) =>
        n === 0 || (n > 0 && n < 1) || "must be between 0 and 1, exclusive (e.g. 0.999), or 0 for not required"
      ),
    ),
    0,
    (n) => n === 0,
  ),
  /** Absent: the class's own state consistency applies. */
  consistency: Schema.optionalKey(Consistency),
})
export type Nfr = typeof Nfr.Type

export const OdgmSpec = Schema.Struct({
  partitionCount: withDefault(
    Schema.Number.check(
      Schema.makeFilter((n: number) =>
        (Number.isInteger(n) && n >= 1 && n <= MAX_PARTITIONS) || `must be an integer from 1 to ${MAX_PARTITIONS}`
      ),
    ),
    1,
    (n) => n === 1,
  ),
  /** 0: one replica per placed cluster. */
  replicaCount: optUInt32,
  /** Absent: the cluster's default storage engine. */
  storage: Schema.optionalKey(StorageEngine),
})
export type OdgmSpec = typeof OdgmSpec.Type

/** One function's replicas on a cluster, as its CRM reports them. */
export const FunctionReadiness = Schema.Struct({
  function: Schema.String,
  desiredReplicas: Schema.Number,
  readyReplicas: Schema.Number,
  message: optString,
})
export type FunctionReadiness = typeof FunctionReadiness.Type

/** The NFR analyzer's latest numbers and advice for a unit. */
export const NfrReport = Schema.Struct({
  recommendedReplicas: Schema.Number,
  observedRps: Schema.Number,
  observedP99Ms: Schema.Number,
  reason: optString,
})
export type NfrReport = typeof NfrReport.Type

export const ClusterDeploymentStatus = Schema.Struct({
  cluster: ClusterName,
  unitId: optString,
  phase: optLiteral(DeploymentPhase, "Pending"),
  conditions: optArray(Condition),
  reason: optString,
  message: optString,
  /** Generation of the unit the cluster's CRM last acknowledged (0 = never). */
  acknowledgedGeneration: optUInt,
  lastContact: Schema.optionalKey(Millis),
  /** Absent until the CRM reported them. */
  functions: Schema.optionalKey(Schema.Array(FunctionReadiness)),
  nfr: Schema.optionalKey(NfrReport),
})
export type ClusterDeploymentStatus = typeof ClusterDeploymentStatus.Type

export const DeploymentStatus = Schema.Struct({
  phase: optLiteral(DeploymentPhase, "Pending"),
  reason: optString,
  message: optString,
  clusters: optArray(ClusterDeploymentStatus),
  updatedAt: Schema.optionalKey(Millis),
  /** Conditions of the deployment as a whole (e.g. ReferencesResolved), beside each cluster's. */
  conditions: optArray(Condition),
})
export type DeploymentStatus = typeof DeploymentStatus.Type

const clusterKey = (k: string): true | string =>
  isDnsLabel(k) || `${JSON.stringify(k)} is not a cluster name (a DNS-1123 label)`

export const DeploymentFields = Schema.Struct({
  key: DeploymentKey,
  packageName: PackageName,
  classKey: ClassKey,
  /** Explicit placement; empty means automatic placement from availability. */
  targetClusters: optArray(ClusterName),
  nfr: optStruct(Nfr),
  enforcement: optLiteral(EnforcementMode, "OBSERVE"),
  /** Cluster name -> template name. */
  clusterTemplates: optStringMap(clusterKey),
  odgm: optStruct(OdgmSpec),
  revision: optUInt,
  createdAt: Schema.optionalKey(Millis),
  updatedAt: Schema.optionalKey(Millis),
  status: Schema.optionalKey(DeploymentStatus),
  /** Clusters chosen by placement (equal to targetClusters when those were given). */
  placedClusters: optArray(ClusterName),
})

const duplicateIssues = (
  items: ReadonlyArray<string>,
  at: ReadonlyArray<PropertyKey>,
  what: string,
  field: ReadonlyArray<PropertyKey> = [],
): Array<PathIssue> =>
  items.flatMap((
    c,
    i,
  ) => (items.indexOf(c) < i ? [{ path: [...at, i, ...field], issue: `duplicate ${what} "${c}"` }] : []))

const deploymentIssues = (d: typeof DeploymentFields.Type): Array<PathIssue> => {
  const out: Array<PathIssue> = [
    ...duplicateIssues(d.targetClusters, ["targetClusters"], "cluster"),
    ...duplicateIssues(d.placedClusters, ["placedClusters"], "cluster"),
    ...duplicateIssues((d.status?.clusters ?? []).map((c) => c.cluster), ["status", "clusters"], "cluster", [
      "cluster",
    ]),
  ]
  for (const [cluster, template] of Object.entries(d.clusterTemplates)) {
    if (template === "") out.push({ path: ["clusterTemplates", cluster], issue: "template name must not be empty" })
    if (d.targetClusters.length > 0 && !d.targetClusters.includes(cluster)) {
      out.push({ path: ["clusterTemplates", cluster], issue: `"${cluster}" is not one of targetClusters` })
    }
  }
  return out
}

/** A class of a package deployed with requirements to one or more clusters. */
export const Deployment = DeploymentFields.check(Schema.makeFilter(deploymentIssues))
export type Deployment = typeof Deployment.Type
export type DeploymentInput = typeof Deployment.Encoded

const decodeDeploymentSchema = decodeWith(Deployment)
/** Validates a deployment (REST body, file entry), reporting every problem with its path. */
export const decodeDeployment: (input: unknown) => Effect.Effect<Deployment, ValidationError> = tracedFn(
  "Models.decodeDeployment",
)(function*(input: unknown) {
  yield* PackageLimits.use((l) => checkInputShape(input, packageShape(l)))
  return yield* decodeDeploymentSchema(input)
})

const encodeDeploymentSchema = Schema.encodeSync(Deployment)
/** The file / REST form of a deployment, omitting defaults (checks skipped, as for encodePackage). */
export const encodeDeployment = (d: Deployment): DeploymentInput => encodeDeploymentSchema(d, { disableChecks: true })

/** The stable id of a deployment's unit on one cluster. */
export const deploymentUnitId = (deploymentKey: string, cluster: string): string => `${deploymentKey}-${cluster}`

export const DeploymentUnitFields = Schema.Struct({
  id: NonEmpty,
  deploymentKey: DeploymentKey,
  packageName: PackageName,
  packageVersion: Version,
  cluster: ClusterName,
  cls: Class,
  /** The functions the class binds, resolved from the package. */
  functions: optArray(Function),
  nfr: optStruct(Nfr),
  enforcement: optLiteral(EnforcementMode, "OBSERVE"),
  /** "" lets the CRM choose from the NFRs. */
  template: optString,
  odgm: optStruct(OdgmSpec),
  /** Bumped by the PM on every change of desired state. */
  generation: optUInt,
  labels: optStringMap(),
})

const unitIssues = (u: typeof DeploymentUnitFields.Type): Array<PathIssue> => [
  ...duplicateIssues(u.functions.map((f) => f.key), ["functions"], "function", ["key"]),
  ...classIssues(u.cls, {
    packageName: u.packageName,
    functions: new Set(u.functions.map((f) => f.key)),
    bindingsByClass: undefined,
    scope: "in this unit's functions",
  }, ["cls"]),
]

/** Everything one cluster's CRM needs to run one class there. */
export const DeploymentUnit = DeploymentUnitFields.check(Schema.makeFilter(unitIssues))
export type DeploymentUnit = typeof DeploymentUnit.Type
export type DeploymentUnitInput = typeof DeploymentUnit.Encoded

const decodeDeploymentUnitSchema = decodeWith(DeploymentUnit)
export const decodeDeploymentUnit: (input: unknown) => Effect.Effect<DeploymentUnit, ValidationError> = tracedFn(
  "Models.decodeDeploymentUnit",
)(function*(input: unknown) {
  return yield* decodeDeploymentUnitSchema(input)
})
