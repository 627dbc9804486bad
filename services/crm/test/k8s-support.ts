import * as k8s from "@kubernetes/client-node"
import { type EmulatorOptions, startEmulator } from "@oprc/k8s-emulator"
import { Layer, References, Schema } from "effect"
import { startServer } from "@oprc/rpc"
import { CrmApp } from "../src/CrmApp"
import { CrmConfig } from "../src/config"
import { crdManifests } from "../src/driver/kubernetes/crds"

/** The emulator with the driver's CRDs registered, and client-node clients on its kubeconfig. */
export const startK8s = async (options: EmulatorOptions = {}) => {
  const emulator = await startEmulator({ workloads: { readyDelayMs: 150 }, knative: true, ...options })
  for (const crd of crdManifests()) await emulator.hooks.registerCrd(crd as never)
  const kc = new k8s.KubeConfig()
  kc.loadFromFile(emulator.kubeconfigPath)
  return {
    emulator,
    kc,
    apps: kc.makeApiClient(k8s.AppsV1Api),
    core: kc.makeApiClient(k8s.CoreV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    objects: k8s.KubernetesObjectApi.makeApiClient(kc),
    record: (name: string, namespace = "default") =>
      kc.makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject({
        group: "oprc.dev",
        version: "v1alpha1",
        namespace,
        plural: "deploymentrecords",
        name,
      }).catch(() => undefined),
  }
}

const quiet = Layer.succeed(References.MinimumLogLevel, process.env.CRM_TEST_LOGS ? "Debug" : "Error")

/** The CRM in this process on a free port with the kubernetes driver against the emulator's kubeconfig. */
export const startK8sCrm = async (
  odgmUrl: string,
  kubeconfig: string,
  kubernetes: Record<string, unknown> = {},
  input: Record<string, unknown> = {},
) => {
  const decoded = Schema.decodeUnknownSync(CrmConfig)({
    server: { host: "127.0.0.1", port: 8088, shutdownGraceMs: 200 },
    storage: { kind: "memory" },
    odgm: { url: odgmUrl },
    reconcile: { resyncMs: 2000 },
    driver: {
      kind: "kubernetes",
      kubernetes: { kubeconfig, namespace: "default", leaseDurationMs: 1500, ...kubernetes },
    },
    ...input,
  })
  return startServer(CrmApp({ ...decoded, server: { ...decoded.server, port: 0 } }).pipe(Layer.provide(quiet)))
}
