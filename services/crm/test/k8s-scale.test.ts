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
const obj = (group: string, plural: string, name: string) =>
  k.custom.getNamespacedCustomObject({
    group,
    version: group === "keda.sh" ? "v1alpha1" : "v1",
    namespace: "default",
    plural,
    name,
  }).catch(() => undefined) as Promise<any>

describe("Driver.scale in Kubernetes", () => {
  test(
    "k8s-deployment: fixed range -> Deployment replicas; a range -> HPA floor; KEDA installed -> ScaledObject minReplicaCount (HPA removed); clamped",
    async () => {
      const fixed = counterUnit({ id: "fixed-local", deploymentKey: "fixed", template: "k8s-deployment" }, [], {
        image: "ghcr.io/x/c:1",
        minScale: 2,
        maxScale: 2,
      })
      await drive((d) => d.reconcile(fixed))
      await until(
        "Deployment",
        async () =>
          (await k.apps.readNamespacedDeployment({ name: "fixed-local-counter-fn", namespace: "default" }).catch(() =>
              undefined
            ))?.spec?.replicas === 2 || undefined,
      )
      expect(await drive((d) => d.scale("fixed-local", "Counter.fn", 9))).toBe(2)

      const ranged = counterUnit({ id: "ranged-local", deploymentKey: "ranged", template: "k8s-deployment" }, [], {
        image: "ghcr.io/x/c:1",
        minScale: 1,
        maxScale: 5,
      })
      await drive((d) => d.reconcile(ranged))
      await until(
        "HPA",
        async () =>
          (await k.kc.makeApiClient((await import("@kubernetes/client-node")).AutoscalingV2Api)
              .readNamespacedHorizontalPodAutoscaler({ name: "ranged-local-counter-fn", namespace: "default" }).catch(
                () => undefined,
              ))?.spec?.minReplicas === 1 || undefined,
      )
      expect(await drive((d) => d.scale("ranged-local", "Counter.fn", 3))).toBe(3)
      const hpaApi = k.kc.makeApiClient((await import("@kubernetes/client-node")).AutoscalingV2Api)
      await until(
        "HPA floor 3",
        async () =>
          (await hpaApi.readNamespacedHorizontalPodAutoscaler({
              name: "ranged-local-counter-fn",
              namespace: "default",
            })).spec?.minReplicas === 3 || undefined,
      )
      expect(await drive((d) => d.scale("ranged-local", "Counter.fn", 50))).toBe(5)
      expect(await drive((d) => d.scale("ranged-local", "Counter.fn", 3))).toBe(3)
      await until(
        "HPA floor 3 again",
        async () =>
          (await hpaApi.readNamespacedHorizontalPodAutoscaler({ name: "ranged-local-counter-fn", namespace: "default" })
              .catch(() => undefined))?.spec?.minReplicas === 3 || undefined,
      )

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
      await until(
        "ScaledObject from the environment change",
        async () =>
          (await obj("keda.sh", "scaledobjects", "ranged-local-counter-fn"))?.spec?.minReplicaCount === 3 || undefined,
      )
      await until(
        "HPA removed",
        async () => ((await hpaApi.readNamespacedHorizontalPodAutoscaler({
            name: "ranged-local-counter-fn",
            namespace: "default",
          }).catch(() => undefined)) === undefined
          ? true
          : undefined),
      )
      expect(await drive((d) => d.scale("ranged-local", "Counter.fn", 4))).toBe(4)
      const so = await until("ScaledObject", async () => {
        const o = await obj("keda.sh", "scaledobjects", "ranged-local-counter-fn")
        return o?.spec?.minReplicaCount === 4 ? o : undefined
      })
      expect(so.spec.maxReplicaCount).toBe(5)
      await until(
        "HPA removed",
        async () => ((await hpaApi.readNamespacedHorizontalPodAutoscaler({
            name: "ranged-local-counter-fn",
            namespace: "default",
          }).catch(() => undefined)) === undefined
          ? true
          : undefined),
      )

      // The same EnvironmentConfig asks for ODGM itself: a StatefulSet on NATS, owned by the EnvironmentConfig.
      const sts = await until(
        "ODGM StatefulSet",
        async () =>
          (await k.apps.readNamespacedStatefulSet({ name: "oprc-odgm", namespace: "default" }).catch(() =>
            undefined
          )) ?? undefined,
      )
      expect(sts.metadata!.ownerReferences![0]!.kind).toBe("EnvironmentConfig")
      expect(sts.spec!.template.spec!.containers[0]!.args).toContain("nats://nats:4222")

      // A new generation of the unit starts from its own bounds again.
      await drive((d) => d.reconcile({ ...ranged, generation: 2 }))
      await until(
        "floor back to minScale",
        async () => ((await obj("keda.sh", "scaledobjects", "ranged-local-counter-fn"))?.spec?.minReplicaCount === 1
          ? true
          : undefined),
      )
    },
    60_000,
  )

  test("knative: min-scale annotation; an unknown unit or function is an error", async () => {
    const kn = counterUnit({ id: "kn-local", deploymentKey: "kn", template: "knative" }, [], {
      image: "ghcr.io/x/c:1",
      minScale: 0,
      maxScale: 4,
    })
    await drive((d) => d.reconcile(kn))
    await until(
      "Knative Service",
      async () => (await obj("serving.knative.dev", "services", "kn-local-counter-fn")) ?? undefined,
    )
    expect(await drive((d) => d.scale("kn-local", "Counter.fn", 2))).toBe(2)
    await until(
      "min-scale 2",
      async () => ((await obj("serving.knative.dev", "services", "kn-local-counter-fn"))?.spec?.template?.metadata
          ?.annotations?.["autoscaling.knative.dev/min-scale"] === "2"
        ? true
        : undefined),
    )
    const missing = await rt.runPromise(Effect.flip(Driver.use((d) => d.scale("nope", "Counter.fn", 2))))
    expect(missing._tag).toBe("NotFound")
    const badFn = await rt.runPromise(Effect.flip(Driver.use((d) => d.scale("kn-local", "Other.fn", 2))))
    expect(badFn._tag).toBe("ValidationError")
  }, 60_000)
})
