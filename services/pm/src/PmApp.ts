import { Effect, Layer } from "effect"
import { PackageLimits } from "@oprc/models"
import { serve, serverOptions } from "@oprc/rpc"
import { makeAuthorizer } from "./auth/Auth"
import { ClusterRegistry } from "./clusters/ClusterRegistry"
import type { PmConfig } from "./config"
import { Deployments } from "./deployments/Deployments"
import { Reconciler } from "./deployments/Reconciler"
import { Packages } from "./packages/Packages"
import { deploymentRoutes } from "./rest/deployments"
import { openApiRoute } from "./rest/openapi"
import { packageRoutes } from "./rest/packages"
import { catalogRoutes, clusterRoutes } from "./rest/views"
import { catalogRpc } from "./rpc/CatalogRpc"
import { clusterRpc } from "./rpc/ClusterRpc"
import { deploymentRpc } from "./rpc/DeploymentRpc"
import { packageRpc } from "./rpc/PackageRpc"
import { PmStore, storageLayer } from "./storage/PmStore"

/** Storage, clusters, the reconcile loop and the package/deployment services, for a configuration. */
export const PmServices = (config: PmConfig) =>
  Packages.layer.pipe(
    Layer.provideMerge(Deployments.layer(config.orchestration)),
    Layer.provideMerge(Reconciler.layer(config.orchestration)),
    Layer.provideMerge(Layer.merge(
      PmStore.layer.pipe(Layer.provide(storageLayer(config.storage))),
      ClusterRegistry.layer(config.clusters, config.orchestration),
    )),
  )

/** The PM's APIs on one port: Connect/gRPC/gRPC-Web services, REST, /openapi.json, health and metrics. */
const PmServer = (config: PmConfig) =>
  Layer.unwrap(Effect.gen(function*() {
    const packages = yield* Packages
    const deployments = yield* Deployments
    const registry = yield* ClusterRegistry
    const authorize = makeAuthorizer(config.auth)
    return serve<Packages | Deployments | ClusterRegistry>(serverOptions("oprc-pm", config.server), {
      rpc: [packageRpc, deploymentRpc, clusterRpc, catalogRpc],
      rest: [
        ...packageRoutes(packages),
        ...deploymentRoutes(deployments, packages),
        ...clusterRoutes(registry),
        ...catalogRoutes(packages),
        openApiRoute,
      ],
      ...(authorize === undefined ? {} : { authorize }),
    })
  }))

/** The Package Manager for a configuration. */
export const PmApp = (config: PmConfig) =>
  PmServer(config).pipe(
    Layer.provide(PmServices(config)),
    // Read by package and deployment validation (REST and RPC alike).
    Layer.provide(Layer.succeed(PackageLimits, config.limits)),
  )
