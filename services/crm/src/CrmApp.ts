import { hostname } from "node:os"
import { Effect, Layer } from "effect"
import type { Health } from "@oprc/observability"
import { serve, serverOptions } from "@oprc/rpc"
import { makeCrmAuthorizer } from "./auth"
import { type CrmConfig, inheritedEnv } from "./config"
import { type Driver } from "./driver/Driver"
import { OdgmCollections } from "./driver/process/OdgmCollections"
import { ProcessDriverLayer } from "./driver/process/ProcessDriver"
import { Processes } from "./driver/process/Processes"
import { clusterInfoRpc } from "./rpc/ClusterInfoRpc"
import { runtimeRpc } from "./rpc/RuntimeRpc"
import { Nfr, type NfrTarget, sdRoute } from "./nfr"
import { NfrBridge } from "./runtime/NfrBridge"
import { Runtime } from "./runtime/Runtime"
import { crmStorageLayer, CrmStore } from "./storage/CrmStore"

/** The Driver chosen by `driver.kind` (a new driver is one more case here). It may use the CRM's store. */
const driverLayer = (config: CrmConfig): Layer.Layer<Driver, never, CrmStore> => {
  switch (config.driver.kind) {
    case "process":
      return ProcessDriverLayer({
        process: config.driver.process,
        odgm: config.odgm,
        otlpEndpoint: config.telemetry.otlp.endpoint,
        baseEnv: inheritedEnv(config.driver.process.inheritEnv),
      }).pipe(Layer.provide(Layer.merge(Processes.layer, OdgmCollections.layer(config.odgm))))
    case "kubernetes": {
      const k = config.driver.kubernetes
      // Imported only when chosen: @kubernetes/client-node is most of the bundle, and loading it
      // cost the process driver's start-up ~200 ms (docs/benchmarks.md, start-up).
      return Layer.unwrap(
        Effect.promise(() => import("./driver/kubernetes/KubernetesDriver")).pipe(Effect.map((
          { KubernetesDriverLayer },
        ) =>
          KubernetesDriverLayer({
            kubeconfig: k.kubeconfig,
            serviceAccountRoot: k.serviceAccountRoot,
            namespace: k.namespace,
            environment: k.environment,
            leaseName: k.leaseName,
            leaseDurationMs: k.leaseDurationMs,
            identity: k.identity ?? `${hostname()}-${process.pid}`,
            workers: config.reconcile.workers,
            resyncMs: config.reconcile.resyncMs,
            odgmUrl: config.odgm.url,
          })
        )),
      ).pipe(Layer.provide(OdgmCollections.layer(config.odgm)))
    }
  }
}

/** Storage, the driver and the runtime (reconcile loop + status) for a configuration. */
const CrmServices = (config: CrmConfig) => {
  const storage = CrmStore.layer.pipe(Layer.provideMerge(crmStorageLayer(config.storage)))
  const driver = driverLayer(config)
  const runtime = Runtime.layer(config).pipe(Layer.provideMerge(driver), Layer.provideMerge(storage))
  // The NFR loop (services/crm/src/nfr) runs beside the runtime, over the bridge.
  const nfr = Nfr.layer(config.nfr).pipe(Layer.provideMerge(NfrBridge(config.odgm.url)))
  return nfr.pipe(Layer.provideMerge(runtime))
}

/** oprc-crm on one port: RuntimeService, ClusterInfoService, health and metrics. */
export const CrmApp = (config: CrmConfig) => {
  const authorize = makeCrmAuthorizer(config.auth)
  return serve<Runtime | Driver | Health | NfrTarget>(serverOptions("oprc-crm", config.server), {
    rpc: [runtimeRpc(config.driver.process), clusterInfoRpc(config.cluster)],
    rest: [sdRoute],
    ...(authorize === undefined ? {} : { authorize }),
  }).pipe(Layer.provide(CrmServices(config)))
}
