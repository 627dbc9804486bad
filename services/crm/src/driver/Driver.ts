import { Context, type Effect, Schema, type Stream } from "effect"
import type { Condition, DeploymentUnit, NotFound, ValidationError } from "@oprc/models"

/**
 * The contract between the CRM's runtime (store -> reconcile -> status) and whatever runs the
 * functions: the process driver (local processes, the default) or the Kubernetes driver. The
 * NFR analyzer/enforcer (services/crm/src/nfr) uses `replicas` (Prometheus service discovery)
 * and `scale` (enforce mode), and reports its findings through `NfrReports`.
 */

/** A driver could not do what was asked; `reason` is a sentence a user can act on. */
export class DriverError extends Schema.TaggedError<DriverError>()("DriverError", {
  unitId: Schema.String,
  reason: Schema.String,
}) {
  override get message(): string {
    return `unit ${this.unitId}: ${this.reason}`
  }
}

/** One running (or starting) copy of a function. */
export interface Replica {
  readonly unitId: string
  readonly deploymentKey: string
  /** Global class key, "<package>.<Class>". */
  readonly cls: string
  /** Function key in its package (e.g. "Counter.fn"). */
  readonly function: string
  /** 0-based, stable while the replica lives. */
  readonly index: number
  /** Base URL of its FunctionService (also serves /metrics, /readyz). */
  readonly url: string
  /** Answers /readyz and is registered with ODGM. */
  readonly ready: boolean
  /** OS process id (process driver); undefined elsewhere. */
  readonly pid: number | undefined
  /** Prometheus-style labels: oprc_class, oprc_function, oprc_deployment, oprc_unit, oprc_replica. */
  readonly labels: Readonly<Record<string, string>>
}

/** What a driver reports about one function of a unit. */
export interface FunctionObservation {
  readonly function: string
  readonly desiredReplicas: number
  readonly readyReplicas: number
  /** URLs of the ready replicas, as registered with ODGM. */
  readonly urls: ReadonlyArray<string>
  /** Why it is not (fully) ready, in words; "" when it is. */
  readonly message: string
}

/** What a driver reports about one unit after a reconcile step. */
export interface UnitObservation {
  readonly unitId: string
  /** The unit's generation the driver last worked on. */
  readonly generation: number
  readonly functions: ReadonlyArray<FunctionObservation>
  /** Available, Progressing, Degraded (NfrObserved is added by the runtime from NfrReports). */
  readonly conditions: ReadonlyArray<Condition>
  /** Where the unit's data grid answers. */
  readonly odgmUrl: string
  /** The driver wants another look after this many ms (rollout in progress, backoff running). */
  readonly requeueAfterMs: number | undefined
}

export type DriverName = "process" | "kubernetes"

/** Runs deployment units. Every method is idempotent: the runtime may repeat any call at any time. */
export class Driver extends Context.Service<Driver, {
  readonly name: DriverName
  /** Brings the unit's runtime towards `unit` (desired state, already validated and stored). */
  readonly reconcile: (unit: DeploymentUnit) => Effect.Effect<UnitObservation, DriverError>
  /**
   * Drains and stops everything of the unit (ODGM routes first, then processes). `last` is the
   * unit as it was last applied, for a driver that has not seen it since it started.
   */
  readonly remove: (unitId: string, last?: DeploymentUnit) => Effect.Effect<void, DriverError>
  /**
   * Sets a function's replica count, clamped to the function's [max(1, minScale), maxScale]
   * (maxScale 0 = no upper bound); survives CRM restarts until the unit's next generation.
   * Returns the count actually set. The change is applied by the next reconcile (triggered at once).
   */
  readonly scale: (unitId: string, fn: string, replicas: number) => Effect.Effect<number, NotFound | ValidationError>
  /** Every replica of every unit (or of one unit), ready or not. */
  readonly replicas: (unitId?: string) => Effect.Effect<ReadonlyArray<Replica>>
  /** Unit ids whose runtime changed on its own (a crash, a replica became ready): reconcile them again. */
  readonly changes: Stream.Stream<string>
  /** Succeeds when the driver can work (e.g. ODGM reachable), for /readyz. */
  readonly ready: Effect.Effect<void, DriverError>
}>()("crm/Driver") {}

/** The NFR analyzer's finding for one unit, shown as the NfrObserved condition and the recommendation. */
export interface NfrReport {
  readonly status: "True" | "False" | "Unknown"
  /** CamelCase, e.g. "Observed", "NoPrometheus", "QueryFailed", "Scaled". */
  readonly reason: string
  readonly message: string
  readonly recommendation?: {
    readonly replicas: number
    readonly reason: string
    readonly observedRps: number
    readonly observedP99Ms: number
  } | undefined
}

/** Where the NFR loop reports; implemented by the CRM runtime, which publishes it in the unit's status. */
export class NfrReports extends Context.Service<NfrReports, {
  readonly report: (unitId: string, report: NfrReport) => Effect.Effect<void>
  /** The desired units the CRM holds now (their NFRs, enforcement mode and functions' min/max scale). */
  readonly units: Effect.Effect<ReadonlyArray<DeploymentUnit>>
}>()("crm/NfrReports") {}
