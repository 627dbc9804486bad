import { Context, Effect, Layer } from "effect"
import {
  type Backend,
  configuredStore,
  ControlPlaneStore,
  type DocumentCollection,
  Kinds,
  type StorageError,
} from "@oprc/cp-storage"
import { DeploymentStatus, type Package, PackageDocument, VersionConflict } from "@oprc/models"
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
    Effect.gen(function*() {
      const store = yield* ControlPlaneStore
      const health = yield* Health
      yield* health.register(`storage (${store.backend})`, store.ready)
      return {
        // The Package schema's own documents, decoded and encoded without its interpreter (models' package-fast.ts).
        packages: store.collection(Kinds.packages, PackageDocument),
        deployments: store.collection(Kinds.deployments, DeploymentRecord),
        statuses: store.collection("deployment-status", DeploymentStatus),
        backend: store.backend,
      }
    }),
  )
}

/** The backend chosen by configuration: SQLite (default), etcd, or memory. */
export const storageLayer = (config: StorageConfig): Layer.Layer<ControlPlaneStore, StorageError> =>
  configuredStore(config)

/** A storage conflict named after the resource clients know ("package", not the collection "packages"). */
export const renamed = (e: VersionConflict, resource: string): VersionConflict =>
  new VersionConflict({
    resource,
    name: e.name,
    ...(e.expected === undefined ? {} : { expected: e.expected }),
    ...(e.actual === undefined ? {} : { actual: e.actual }),
  })
