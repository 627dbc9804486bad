import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { Effect, Layer, ManagedRuntime } from "effect"
import { Driver } from "../src/driver/Driver"
import { KubernetesDriverLayer } from "../src/driver/kubernetes/KubernetesDriver"
import { OdgmCollections } from "../src/driver/process/OdgmCollections"
import { startK8s } from "./k8s-support"
import { counterUnit, eventually, startOdgm } from "./support"

// The NFR enforcer's Driver.scale through the kubernetes driver: the count lands where the
// template keeps replicas (Deployment, HPA floor, KEDA minReplicaCount, Knative min-scale),
// clamped to the function's bounds, and survives until the unit's next generation.
let k: Awaited<ReturnType<typeof startK8s>>
let odgm: Awaited<ReturnType<typeof startOdgm>>
let rt: ManagedRuntime.ManagedRuntime<Driver, never>
const drive = <A, E>(f: (d: Driver["Service"]) => Effect.Effect<A, E>) => rt.runPromise(Driver.use(f))

beforeAll(async () => {
  k = await startK8s({ keda: true })
  odgm = await startOdgm()
  rt = ManagedRuntime.make(
    KubernetesDriverLayer({
      kubeconfig: k.emulator.kubeconfigPath,
      namespace: "default",
      leaseName: "scale",
      leaseDurationMs: 900,
      identity: "scale-test",
      environment: "default",
      workers: 4,
      resyncMs: 2000,
      odgmUrl: odgm.url,
    }).pipe(Layer.provide(OdgmCollections.layer({ url: odgm.url, timeoutMs: 2000 } as never))),
  )
})
afterAll(async () => {
  await rt.dispose()
  await odgm.stop()
  await k.emulator.stop()
})

const until = <T>(what: string, f: () => Promise<T | undefined>) => eventually(what, f, 15_000)
/** Waits until `check` holds. */
const untilTrue = (what: string, check: () => Promise<boolean>) => until(what, async () => (await check()) || undefined)
const obj = (group: string, plural: string, name: string) =>
  k.custom.getNamespacedCustomObject({
    group,
    version: group === "keda.sh" ? "v1alpha1" : "v1",
    namespace: "default",
    plural,
    name,
  }).catch(() => undefined) as Promise<any>
// Reads of the function's workload objects (all named "<unit>-counter-fn"); undefined while absent.
const deployment = (name: string) =>
  k.apps.readNamespacedDeployment({ name, namespace: "default" }).catch(() => undefined)
const hpa = async (name: string) =>
  k.kc.makeApiClient((await import("@kubernetes/client-node")).AutoscalingV2Api)
    .readNamespacedHorizontalPodAutoscaler({ name, namespace: "default" }).catch(() => undefined)
const scaled = (name: string) => obj("keda.sh", "scaledobjects", name)
/** The counter unit on a Kubernetes template with its function's scale bounds. */
const scaleUnit = (
  id: string,
  template: "k8s-deployment" | "knative",
  minScale: number,
  maxScale: number,
) =>
  counterUnit({ id: `${id}-local`, deploymentKey: id, template }, [], {
    image: "ghcr.io/x/c:1",
    minScale,
    maxScale,
  })

describe("Driver.scale in Kubernetes", () => {
  test(
    "k8s-deployment: fixed range -> Deployment replicas; a range -> HPA floor; KEDA installed -> ScaledObject minReplicaCount (HPA removed); clamped",
    async () => {
      const fixed = scaleUnit("fixed", "k8s-deployment", 2, 2)
      await drive((d) => d.reconcile(fixed))
      await untilTrue("Deployment", async () => (await deployment("fixed-local-counter-fn"))?.spec?.replicas === 2)
      expect(await drive((d) => d.scale("fixed-local", "Counter.fn", 9))).toBe(2)

      const ranged = scaleUnit("ranged", "k8s-deployment", 1, 5)
      const fn = "ranged-local-counter-fn"
      await drive((d) => d.reconcile(ranged))
      await untilTrue("HPA", async () => (await hpa(fn))?.spec?.minReplicas === 1)
      expect(await drive((d) => d.scale("ranged-local", "Counter.fn", 3))).toBe(3)
      await untilTrue("HPA floor 3", async () => (await hpa(fn))?.spec?.minReplicas === 3)
      expect(await drive((d) => d.scale("ranged-local", "Counter.fn", 50))).toBe(5)
      expect(await drive((d) => d.scale("ranged-local", "Counter.fn", 3))).toBe(3)
      await untilTrue("HPA floor 3 again", async () => (await hpa(fn))?.spec?.minReplicas === 3)

      // The environment says KEDA is installed: the next pass renders a ScaledObject and removes the HPA.
      await k.custom.createNamespacedCustomObject({
        group: "oprc.dev",
        version: "v1alpha1",
        namespace: "default",
        plural: "environmentconfigs",
        body: {
          apiVersion: "oprc.dev/v1alpha1",
          kind: "EnvironmentConfig",
          metadata: { name: "default" },
          spec: {
            kedaInstalled: true,
            prometheusUrl: "http://prom:9090",
            natsUrl: "nats://nats:4222",
            odgm: { deploy: true, replicas: 3 },
          },
        },
      })
      // An environment change alone (no new record generation): the periodic resync re-renders it.
      await untilTrue(
        "ScaledObject from the environment change",
        async () => (await scaled(fn))?.spec?.minReplicaCount === 3,
      )
      await untilTrue("HPA removed", async () => (await hpa(fn)) === undefined)
      expect(await drive((d) => d.scale("ranged-local", "Counter.fn", 4))).toBe(4)
      const so = await until("ScaledObject", async () => {
        const o = await scaled(fn)
        return o?.spec?.minReplicaCount === 4 ? o : undefined
      })
      expect(so.spec.maxReplicaCount).toBe(5)
      await untilTrue("HPA removed", async () => (await hpa(fn)) === undefined)

      // The same EnvironmentConfig asks for ODGM itself: a StatefulSet on NATS, owned by the EnvironmentConfig.
      const sts = await until(
        "ODGM StatefulSet",
        async () =>
          await k.apps.readNamespacedStatefulSet({ name: "oprc-odgm", namespace: "default" }).catch(() => undefined),
      )
      expect(sts.metadata!.ownerReferences![0]!.kind).toBe("EnvironmentConfig")
      expect(sts.spec!.template.spec!.containers[0]!.args).toContain("nats://nats:4222")

      // A new generation of the unit starts from its own bounds again.
      await drive((d) => d.reconcile({ ...ranged, generation: 2 }))
      await untilTrue("floor back to minScale", async () => (await scaled(fn))?.spec?.minReplicaCount === 1)
    },
    60_000,
  )

  test("knative: min-scale annotation; an unknown unit or function is an error", async () => {
    const kn = scaleUnit("kn", "knative", 0, 4)
    await drive((d) => d.reconcile(kn))
    await until(
      "Knative Service",
      async () => (await obj("serving.knative.dev", "services", "kn-local-counter-fn")) ?? undefined,
    )
    expect(await drive((d) => d.scale("kn-local", "Counter.fn", 2))).toBe(2)
    await untilTrue(
      "min-scale 2",
      async () =>
        (await obj("serving.knative.dev", "services", "kn-local-counter-fn"))?.spec?.template?.metadata
          ?.annotations?.["autoscaling.knative.dev/min-scale"] === "2",
    )
    const missing = await rt.runPromise(Effect.flip(Driver.use((d) => d.scale("nope", "Counter.fn", 2))))
    expect(missing._tag).toBe("NotFound")
    const badFn = await rt.runPromise(Effect.flip(Driver.use((d) => d.scale("kn-local", "Other.fn", 2))))
    expect(badFn._tag).toBe("ValidationError")
  }, 60_000)
})
