// The simulated workload controllers: readiness after a delay, failures on command.
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { type Cluster, deployment, eventually, k8s, startCluster } from "./helpers.ts"

let c: Cluster
const READY_MS = 300
beforeAll(async () => {
  c = await startCluster({ workloads: { readyDelayMs: READY_MS }, knative: true, keda: true })
})
afterAll(() => c.emulator.stop())

const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch)
const condition = (o: any, type: string) => (o?.status?.conditions ?? []).find((x: any) => x.type === type)

describe("workload controllers", () => {
  test("a Deployment reports progress, then readiness after the delay; spec changes start over", async () => {
    const started = Date.now()
    await c.apps.createNamespacedDeployment({ namespace: "default", body: deployment("web", "nginx:1", 2) })
    const progressing = await eventually("observed", async () => {
      const d = await c.apps.readNamespacedDeployment({ name: "web", namespace: "default" })
      return d.status?.observedGeneration === 1 ? d : undefined
    })
    expect(condition(progressing, "Available")?.status).toBe("False")
    const ready = await eventually("ready", async () => {
      const d = await c.apps.readNamespacedDeployment({ name: "web", namespace: "default" })
      return d.status?.readyReplicas === 2 ? d : undefined
    })
    expect(Date.now() - started).toBeGreaterThanOrEqual(READY_MS - 20)
    expect(condition(ready, "Available")).toMatchObject({ status: "True", reason: "MinimumReplicasAvailable" })
    expect(condition(ready, "Progressing")).toMatchObject({ status: "True", reason: "NewReplicaSetAvailable" })
    expect(ready.status).toMatchObject({ replicas: 2, updatedReplicas: 2, availableReplicas: 2 })

    await c.apps.patchNamespacedDeployment({
      name: "web",
      namespace: "default",
      body: { spec: { template: { spec: { containers: [{ name: "app", image: "nginx:2" }] } } } },
    }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.StrategicMergePatch))
    const again = await eventually("generation 2 ready", async () => {
      const d = await c.apps.readNamespacedDeployment({ name: "web", namespace: "default" })
      return d.status?.observedGeneration === 2 && condition(d, "Progressing")?.reason === "NewReplicaSetAvailable"
        ? d
        : undefined
    })
    expect(again.metadata?.generation).toBe(2)
  })

  test("failWorkload makes a Deployment fail (ProgressDeadlineExceeded) until succeedWorkload", async () => {
    await c.apps.createNamespacedDeployment({ namespace: "default", body: deployment("flaky") })
    c.emulator.hooks.failWorkload("Deployment", "default", "flaky")
    const failed = await eventually("failed", async () => {
      const d = await c.apps.readNamespacedDeployment({ name: "flaky", namespace: "default" })
      return condition(d, "Progressing")?.status === "False" ? d : undefined
    })
    expect(condition(failed, "Progressing").reason).toBe("ProgressDeadlineExceeded")
    expect(condition(failed, "Available").status).toBe("False")
    expect(failed.status?.readyReplicas).toBe(0)
    c.emulator.hooks.succeedWorkload("Deployment", "default", "flaky")
    await eventually(
      "recovered",
      async () =>
        condition(await c.apps.readNamespacedDeployment({ name: "flaky", namespace: "default" }), "Available")
          ?.status === "True",
    )
  })

  test("StatefulSets become ready; Jobs complete or fail", async () => {
    const sts = { ...deployment("db"), kind: "StatefulSet", spec: { ...deployment("db").spec, serviceName: "db" } }
    await c.apps.createNamespacedStatefulSet({ namespace: "default", body: sts as any })
    await eventually(
      "sts ready",
      async () =>
        (await c.apps.readNamespacedStatefulSet({ name: "db", namespace: "default" })).status?.readyReplicas === 1,
    )
    const batch = c.kc.makeApiClient(k8s.BatchV1Api)
    const job = (name: string) => ({
      metadata: { name },
      spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "run", image: "busybox:1" }] } } },
    })
    await batch.createNamespacedJob({ namespace: "default", body: job("ok") })
    await batch.createNamespacedJob({ namespace: "default", body: job("bad") })
    c.emulator.hooks.failWorkload("Job", "default", "bad")
    const done = await eventually("job complete", async () => {
      const j = await batch.readNamespacedJob({ name: "ok", namespace: "default" })
      return condition(j, "Complete")?.status === "True" ? j : undefined
    })
    expect(done.status?.succeeded).toBe(1)
    expect(done.spec?.selector?.matchLabels?.["batch.kubernetes.io/controller-uid"]).toBe(done.metadata?.uid)
    const failed = await eventually("job failed", async () => {
      const j = await batch.readNamespacedJob({ name: "bad", namespace: "default" })
      return condition(j, "Failed")?.status === "True" ? j : undefined
    })
    expect(condition(failed, "Failed").reason).toBe("BackoffLimitExceeded")
  })

  test("an HPA keeps its target within min/max through /scale and reports current/desired replicas", async () => {
    await c.apps.createNamespacedDeployment({ namespace: "default", body: deployment("scaled", "nginx:1", 1) })
    const hpa = c.kc.makeApiClient(k8s.AutoscalingV2Api)
    await hpa.createNamespacedHorizontalPodAutoscaler({
      namespace: "default",
      body: {
        metadata: { name: "scaled" },
        spec: {
          scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "scaled" },
          minReplicas: 3,
          maxReplicas: 5,
        },
      },
    })
    await eventually(
      "target scaled to min",
      async () =>
        (await c.apps.readNamespacedDeployment({ name: "scaled", namespace: "default" })).spec?.replicas === 3,
    )
    const status = await eventually("hpa status", async () => {
      const h = await hpa.readNamespacedHorizontalPodAutoscaler({ name: "scaled", namespace: "default" })
      return h.status?.currentReplicas === 3 ? h.status : undefined
    })
    expect(status.desiredReplicas).toBe(3)
    await c.apps.patchNamespacedDeployment(
      { name: "scaled", namespace: "default", body: { spec: { replicas: 9 } } },
      merge,
    )
    await eventually(
      "target capped at max",
      async () =>
        (await c.apps.readNamespacedDeployment({ name: "scaled", namespace: "default" })).spec?.replicas === 5,
    )
  })

  test("once everything is ready the controllers go quiet (no writes without a change)", async () => {
    await Bun.sleep(READY_MS * 2)
    const rv = c.emulator.hooks.resourceVersion()
    await Bun.sleep(READY_MS * 2)
    expect(c.emulator.hooks.resourceVersion()).toBe(rv)
  })

  test("a Knative Service gets Ready and a URL; a failed one reports why", async () => {
    const ksvc = (name: string) => ({
      apiVersion: "serving.knative.dev/v1",
      kind: "Service",
      metadata: { name },
      spec: { template: { spec: { containers: [{ image: "ghcr.io/x/fn:1" }] } } },
    })
    const g = { group: "serving.knative.dev", version: "v1", namespace: "default", plural: "services" }
    await c.custom.createNamespacedCustomObject({ ...g, body: ksvc("fn") })
    await c.custom.createNamespacedCustomObject({ ...g, body: ksvc("broken") })
    c.emulator.hooks.failWorkload("KnativeService", "default", "broken", "RevisionFailed", "image pull failed")
    const ready: any = await eventually("ksvc ready", async () => {
      const o: any = await c.custom.getNamespacedCustomObject({ ...g, name: "fn" })
      return condition(o, "Ready")?.status === "True" ? o : undefined
    })
    expect(ready.status.url).toBe("http://fn.default.example.com")
    expect(ready.status.latestReadyRevisionName).toBe("fn-00001")
    const broken: any = await eventually("ksvc failed", async () => {
      const o: any = await c.custom.getNamespacedCustomObject({ ...g, name: "broken" })
      return condition(o, "Ready")?.status === "False" ? o : undefined
    })
    expect(condition(broken, "Ready")).toMatchObject({ reason: "RevisionFailed", message: "image pull failed" })
  })

  test("a KEDA ScaledObject is validated by its CRD schema and reports Ready", async () => {
    const g = { group: "keda.sh", version: "v1alpha1", namespace: "default", plural: "scaledobjects" }
    const so = {
      apiVersion: "keda.sh/v1alpha1",
      kind: "ScaledObject",
      metadata: { name: "so" },
      spec: {
        scaleTargetRef: { name: "web" },
        minReplicaCount: 0,
        maxReplicaCount: 4,
        triggers: [{
          type: "prometheus",
          metadata: { serverAddress: "http://prom:9090", query: "sum(rate(x[1m]))", threshold: "5" },
        }],
      },
    }
    await c.custom.createNamespacedCustomObject({ ...g, body: so })
    await eventually(
      "so ready",
      async () => condition(await c.custom.getNamespacedCustomObject({ ...g, name: "so" }), "Ready")?.status === "True",
    )
    const bad = {
      ...so,
      metadata: { name: "bad" },
      spec: { ...so.spec, triggers: [{ type: "prometheus", metadata: { threshold: 5 } }] },
    }
    await expect(c.custom.createNamespacedCustomObject({ ...g, body: bad })).rejects.toMatchObject({ code: 422 })
  })
})
