import { mkdirSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { Context, Effect, Layer } from "effect"
import { ControlPlaneStore, type Backend, type DocumentCollection, Kinds, StorageError } from "@oprc/cp-storage"
import { DeploymentStatus, Package, Unavailable, VersionConflict } from "@oprc/models"
import { Health } from "@oprc/observability"
import type { StorageConfig } from "../config"
import { DeploymentRecord } from "../deployments/records"

/** The PM's view of a cp-storage collection (which decodes each stored revision once). */
export type Collection<A> = DocumentCollection<A>

/** The PM's three collections: packages, deployments (desired state) and their observed status. */
export class PmStore extends Context.Service<PmStore, {
  readonly packages: Collection<Package>
  /** Desired state, written by API calls only; its revision is what clients pass back to update. */
  readonly deployments: Collection<DeploymentRecord>
  /** Observed state, written by the reconciler only, so status churn never makes a client's revision stale. */
  readonly statuses: Collection<DeploymentStatus>
  readonly backend: Backend
}>()("pm/PmStore") {
  static readonly layer: Layer.Layer<PmStore, never, ControlPlaneStore | Health> = Layer.effect(PmStore)(
    Effect.gen(function* () {
      const store = yield* ControlPlaneStore
      const health = yield* Health
      yield* health.register(`storage (${store.backend})`, store.ready)
      return {
        packages: store.collection(Kinds.packages, Package),
        deployments: store.collection(Kinds.deployments, DeploymentRecord),
        statuses: store.collection("deployment-status", DeploymentStatus),
        backend: store.backend,
      }
    }),
  )
}

const ensureDir = (file: string) =>
  Effect.try({
    try: () => mkdirSync(dirname(resolve(file)), { recursive: true }),
    catch: (e) => new StorageError({ reason: `cannot create the directory of ${file}: ${String(e)}`, retryable: false }),
  })

/** The storage backend chosen by configuration: SQLite (default), etcd, or memory. */
export const storageLayer = (config: StorageConfig): Layer.Layer<ControlPlaneStore, StorageError> => {
  switch (config.kind) {
    case "memory":
      return ControlPlaneStore.layerMemory
    case "etcd":
      return ControlPlaneStore.layerEtcd({ endpoints: config.etcd.endpoints, prefix: config.etcd.prefix })
    case "sqlite":
      return Layer.unwrap(Effect.as(ensureDir(config.sqlite.path), ControlPlaneStore.layerSqlite({ path: config.sqlite.path })))
  }
}

/** A storage failure as the client sees it. */
export const unavailable = (e: StorageError): Unavailable => new Unavailable({ reason: `storage unavailable: ${e.reason}` })

/**
 * Storage failures at the service boundary: a retryable one (etcd electing a leader, a busy
 * SQLite file) is UNAVAILABLE so clients retry; anything else is a defect (500, logged).
 */
export const orUnavailable = <A, E, R>(effect: Effect.Effect<A, E | StorageError, R>): Effect.Effect<A, E | Unavailable, R> =>
  Effect.catch(effect, (e): Effect.Effect<never, E | Unavailable> =>
    e instanceof StorageError ? (e.retryable ? Effect.fail(unavailable(e)) : Effect.die(e)) : Effect.fail(e))

/** A storage conflict named after the resource clients know ("package", not the collection "packages"). */
export const renamed = (e: VersionConflict, resource: string): VersionConflict =>
  new VersionConflict({
    resource,
    name: e.name,
    ...(e.expected === undefined ? {} : { expected: e.expected }),
    ...(e.actual === undefined ? {} : { actual: e.actual }),
  })
