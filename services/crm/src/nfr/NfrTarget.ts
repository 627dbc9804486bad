import { Context, type Effect, Schema } from "effect"
import type { Condition, DeploymentUnit, EnforcementMode, Nfr } from "@oprc/models"
import type { Observation } from "./queries"

/** One running (or starting) replica of a function. */
export interface ReplicaEndpoint {
  readonly id: string
  /** Base URL; its `/metrics` is what Prometheus scrapes. */
  readonly url: string
  readonly ready: boolean
}

/** One function of one deployment unit, as the NFR loop sees it. */
export interface NfrWorkload {
  readonly unitId: string
  readonly deploymentKey: string
  readonly generation: number
  /** ODGM collection name, `<package>.<Class>`. */
  readonly cls: string
  /** Function key in the package, e.g. `Counter.fn`. */
  readonly function: string
  /** The class's binding names served by this function (ODGM's `fn` label). */
  readonly bindings: ReadonlyArray<string>
  readonly nfr: Nfr
  readonly enforcement: EnforcementMode
  /** Lower bound (provision.minScale; 0 counts as 1). */
  readonly minScale: number
  /** Upper bound (provision.maxScale; 0 = `nfr.maxReplicas`). */
  readonly maxScale: number
  /** The replica count the driver is currently asked to run. */
  readonly desiredReplicas: number
  readonly replicas: ReadonlyArray<ReplicaEndpoint>
}

/** The analyzer's numbers and advice for one function. */
export interface FunctionNfrReport {
  readonly function: string
  readonly observation: Observation
  /** Recommended replica count (within bounds), and why in words. */
  readonly recommendedReplicas: number
  readonly reason: string
  /** Replica count after this pass (changed only in enforce mode). */
  readonly desiredReplicas: number
  /** The replica count changed in this pass. */
  readonly scaled: boolean
  /** Learned requests/s one replica serves within the p99 target. */
  readonly capacityRps: number
}

/** What the loop writes into a unit's status after each pass. */
export interface NfrUnitReport {
  readonly unitId: string
  readonly generation: number
  /** The NfrObserved condition. */
  readonly condition: Condition
  readonly functions: ReadonlyArray<FunctionNfrReport>
}

/** The driver refused or failed to change a replica count. */
export class ScaleFailed extends Schema.TaggedError<ScaleFailed>()("ScaleFailed", {
  unitId: Schema.String,
  function: Schema.String,
  replicas: Schema.Number,
  reason: Schema.String,
}) {
  override get message(): string {
    return `cannot scale function ${this.function} of ${this.unitId} to ${this.replicas}: ${this.reason}`
  }
}

/**
 * What the NFR loop needs from the CRM: the functions it runs with their replicas, a way to change
 * a function's replica count, and a place for the NfrObserved condition and recommendations.
 * The CRM core implements it over its driver and status store.
 */
export class NfrTarget extends Context.Service<NfrTarget, {
  readonly workloads: Effect.Effect<ReadonlyArray<NfrWorkload>>
  /** ODGM base URLs whose invocation metrics belong to these workloads (scraped too). */
  readonly odgmUrls: Effect.Effect<ReadonlyArray<string>>
  readonly scale: (unitId: string, fn: string, replicas: number) => Effect.Effect<void, ScaleFailed>
  readonly report: (report: NfrUnitReport) => Effect.Effect<void>
}>()("crm/nfr/NfrTarget") {}

/** The collection name ODGM serves a unit's class under. */
const collectionName = (unit: Pick<DeploymentUnit, "packageName" | "cls">): string =>
  `${unit.packageName}.${unit.cls.key}`

/** The workloads of one unit, given each function's desired count and replicas (from the driver). */
export const unitWorkloads = (
  unit: DeploymentUnit,
  replicasOf: (fn: string) => { readonly desired: number; readonly replicas: ReadonlyArray<ReplicaEndpoint> },
): ReadonlyArray<NfrWorkload> =>
  unit.functions.map((f) => {
    const { desired, replicas } = replicasOf(f.key)
    return {
      unitId: unit.id,
      deploymentKey: unit.deploymentKey,
      generation: unit.generation,
      cls: collectionName(unit),
      function: f.key,
      bindings: unit.cls.bindings.filter((b) => b.function === f.key).map((b) => b.name),
      nfr: unit.nfr,
      enforcement: unit.enforcement,
      minScale: f.provision.minScale,
      maxScale: f.provision.maxScale,
      desiredReplicas: desired,
      replicas,
    }
  })
