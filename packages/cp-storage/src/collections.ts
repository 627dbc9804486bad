import type { Effect, Schema } from "effect"
import { ControlPlaneStore, type DocumentCollection } from "./DocumentStore.ts"

/** The PM's collection kinds; also the path segment in etcd keys (`{prefix}/{kind}/{key}`). */
export const Kinds = {
  packages: "packages",
  deployments: "deployments",
  clusterState: "cluster-state",
} as const

const collectionOf =
  (kind: string) =>
  <A, I>(schema: Schema.Codec<A, I>): Effect.Effect<DocumentCollection<A>, never, ControlPlaneStore> =>
    ControlPlaneStore.useSync((store) => store.collection(kind, schema))

/** Packages by name. The domain schema comes from @oprc/models. */
export const PackageStorage = collectionOf(Kinds.packages)
/** Deployments by key. */
export const DeploymentStorage = collectionOf(Kinds.deployments)
/** Per-cluster state (health, CRM-side ids) by cluster name. */
export const ClusterStateStorage = collectionOf(Kinds.clusterState)
