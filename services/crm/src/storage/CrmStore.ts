import { Context, Effect, Layer, Schema } from "effect"
import { configuredStore, ControlPlaneStore, type DocumentCollection, type StorageError } from "@oprc/cp-storage"
import { DeploymentUnit } from "@oprc/models"
import { Health } from "@oprc/observability"
import type { CrmStorageConfig } from "../config"

/** A function process the process driver started: enough to find it again after a CRM restart. */
export const ReplicaRecord = Schema.Struct({
  unitId: Schema.String,
  function: Schema.String,
  index: Schema.Number,
  pid: Schema.Number,
  /** /proc/<pid>/stat start time (clock ticks since boot): tells a live replica from a reused pid. */
  startTicks: Schema.String,
  port: Schema.Number,
  /** Fingerprint of command, env and working dir: a changed spec replaces the process. */
  specHash: Schema.String,
  startedAt: Schema.Number,
})
export type ReplicaRecord = typeof ReplicaRecord.Type

/** Replica counts set by `Driver.scale` (the NFR enforcer), valid for one generation of the unit. */
export const ScaleRecord = Schema.Struct({
  generation: Schema.Number,
  replicas: Schema.Record(Schema.String, Schema.Number),
})
export type ScaleRecord = typeof ScaleRecord.Type

/** One record per process: a slot being rolled over to a new spec briefly has two. */
export const replicaKey = (unitId: string, fn: string, index: number, specHash: string) =>
  `${unitId}/${fn}/${index}/${specHash}`

/** The CRM's durable state: desired units (acknowledged = stored), replica records, scale overrides. */
export class CrmStore extends Context.Service<CrmStore, {
  readonly units: DocumentCollection<DeploymentUnit>
  readonly replicas: DocumentCollection<ReplicaRecord>
  readonly scale: DocumentCollection<ScaleRecord>
}>()("crm/CrmStore") {
  static readonly layer: Layer.Layer<CrmStore, never, ControlPlaneStore | Health> = Layer.effect(CrmStore)(
    Effect.gen(function*() {
      const store = yield* ControlPlaneStore
      const health = yield* Health
      yield* health.register(`storage (${store.backend})`, store.ready)
      return {
        units: store.collection("crm-units", DeploymentUnit),
        replicas: store.collection("crm-replicas", ReplicaRecord),
        scale: store.collection("crm-scale", ScaleRecord),
      }
    }),
  )
}

/** The backend chosen by configuration: SQLite (default), etcd, or memory. */
export const crmStorageLayer = (config: CrmStorageConfig): Layer.Layer<ControlPlaneStore, StorageError> =>
  configuredStore(config)
