import { describe, expect, test } from "bun:test"
import { Effect } from "effect"
import { deploymentUnitToProto } from "@oprc/models"
import { commonv1 } from "@oprc/proto"
import { startK8s, startK8sCrm } from "./k8s-support"
import { counterUnit, eventually, runtimeClient, startOdgm } from "./support"

const run = <A, E>(e: Effect.Effect<A, E>) => Effect.runPromise(e)

describe("kubernetes driver against the emulator", () => {
  test(
    "a unit becomes a DeploymentRecord, then a Deployment + Service; Running when the workload is ready; spec changes follow; delete runs the finalizer",
    async () => {
      const k = await startK8s()
      const odgm = await startOdgm()
      const crm = await startK8sCrm(odgm.url, k.emulator.kubeconfigPath)
      try {
        const client = runtimeClient(crm.url)
        const unit = counterUnit({ template: "k8s-deployment" }, [], { image: "ghcr.io/oprc/counter:1", port: 9000 })
        await run(client.applyDeploymentUnit({ unit: deploymentUnitToProto(unit) }))
        const status = await eventually("Running", async () => {
          const s = (await run(client.getDeploymentUnit({ unitId: unit.id }))).status!
          return s.phase === commonv1.DeploymentPhase.RUNNING ? s : undefined
        }, 15_000).catch(async (e) => {
          console.log(
            JSON.stringify(
              (await run(client.getDeploymentUnit({ unitId: unit.id }))).status,
              (_k, v) => typeof v === "bigint" ? String(v) : v,
            ),
            JSON.stringify(await k.record(unit.id)),
          )
          throw e
        })
        expect(status.functions.map((f) => `${f.function} ${f.readyReplicas}/${f.desiredReplicas}`)).toEqual([
          "Counter.fn 1/1",
        ])
        const record: any = await k.record(unit.id)
        expect(record.metadata.finalizers).toContain("oprc.dev/cleanup")
        expect(record.status.observedGeneration).toBe(record.metadata.generation)
        expect(record.status.template).toBe("k8s-deployment")
        expect(record.status.conditions.find((c: any) => c.type === "Available").status).toBe("True")
        const dep = await k.apps.readNamespacedDeployment({
          name: "counter-dev-local-counter-fn",
          namespace: "default",
        })
        expect(dep.metadata!.ownerReferences![0]!.uid).toBe(record.metadata.uid)
        expect(dep.spec!.template.spec!.containers[0]!.image).toBe("ghcr.io/oprc/counter:1")
        expect(dep.spec!.replicas).toBe(1)
        const svc = await k.core.readNamespacedService({ name: "counter-dev-local-counter-fn", namespace: "default" })
        expect(svc.spec!.ports![0]!.targetPort).toBe(9000 as never)

        // Generation 2: two replicas; the Deployment follows, the record's generation moves on.
        const two = counterUnit({ template: "k8s-deployment", generation: 2 }, [], {
          image: "ghcr.io/oprc/counter:2",
          port: 9000,
          minScale: 2,
          maxScale: 2,
        })
        await run(client.applyDeploymentUnit({ unit: deploymentUnitToProto(two) }))
        await eventually("two replicas Running", async () => {
          const s = (await run(client.getDeploymentUnit({ unitId: unit.id }))).status!
          return s.phase === commonv1.DeploymentPhase.RUNNING && s.observedGeneration === 2n &&
              s.functions[0]?.readyReplicas === 2
            ? s
            : undefined
        }, 15_000)
        const dep2 = await k.apps.readNamespacedDeployment({
          name: "counter-dev-local-counter-fn",
          namespace: "default",
        })
        expect(dep2.spec!.replicas).toBe(2)
        expect(dep2.spec!.template.spec!.containers[0]!.image).toBe("ghcr.io/oprc/counter:2")
        const record2: any = await k.record(unit.id)
        expect(record2.metadata.generation).toBe(record.metadata.generation + 1)
        expect(record2.status.observedGeneration).toBe(record2.metadata.generation)
        const events = await k.core.listNamespacedEvent({ namespace: "default" })
        expect(events.items.some((e) => e.involvedObject.name === unit.id && e.reason === "ReplicasReady")).toBe(true)

        // Delete: the finalizer removes the ODGM collection, then GC the children.
        await run(client.deleteDeploymentUnit({ unitId: unit.id }))
        await eventually(
          "record gone",
          async () => ((await k.record(unit.id)) === undefined ? true : undefined),
          10_000,
        )
        await eventually(
          "children collected",
          async () =>
            (await k.apps.listNamespacedDeployment({ namespace: "default" })).items.length === 0 &&
              (await k.core.listNamespacedService({ namespace: "default", labelSelector: "oprc.dev/record" })).items
                  .length === 0 ?
              true :
              undefined,
          10_000,
        )
        const res = await fetch(`${odgm.url}/api/class/counter.Counter/-/objects/c1/invokes/get`, { method: "POST" })
        expect(res.status).toBe(404)
      } finally {
        await crm.stop()
        await odgm.stop()
        await k.emulator.stop()
      }
    },
    60_000,
  )
})

describe("kubernetes driver: other templates and failures", () => {
  test(
    "job runs to completion (Available); a failing Deployment makes the unit Degraded with the workload's reason, and recovers",
    async () => {
      const k = await startK8s()
      const odgm = await startOdgm()
      const crm = await startK8sCrm(odgm.url, k.emulator.kubeconfigPath, { identity: "crm-jobs" })
      try {
        const client = runtimeClient(crm.url)
        const phase = (id: string) => run(client.getDeploymentUnit({ unitId: id })).then((r) => r.status!)
        const job = counterUnit({ id: "batch-local", deploymentKey: "batch", template: "job" }, [], {
          image: "ghcr.io/oprc/batch:1",
          minScale: 2,
        })
        await run(client.applyDeploymentUnit({ unit: deploymentUnitToProto(job) }))
        await eventually(
          "job Running",
          async () => ((await phase(job.id)).phase === commonv1.DeploymentPhase.RUNNING ? true : undefined),
          15_000,
        )
        // Running while its pods run, and still after they completed.
        const batch = k.kc.makeApiClient((await import("@kubernetes/client-node")).BatchV1Api)
        const done = await eventually("job complete", async () => {
          const j = (await batch.listNamespacedJob({ namespace: "default" })).items
          return j.length === 1 && j[0]!.status?.succeeded === 2 ? j[0]! : undefined
        }, 15_000)
        expect(done.spec!.parallelism).toBe(2)
        await Bun.sleep(300)
        expect((await phase(job.id)).phase).toBe(commonv1.DeploymentPhase.RUNNING)

        const web = counterUnit({ id: "web-local", deploymentKey: "web", template: "k8s-deployment" }, [], {
          image: "ghcr.io/oprc/web:1",
          minScale: 1,
          maxScale: 1,
        })
        await run(client.applyDeploymentUnit({ unit: deploymentUnitToProto(web) }))
        await eventually(
          "web Running",
          async () => ((await phase(web.id)).phase === commonv1.DeploymentPhase.RUNNING ? true : undefined),
          15_000,
        )
        k.emulator.hooks.failWorkload(
          "Deployment",
          "default",
          "web-local-counter-fn",
          "ProgressDeadlineExceeded",
          "ImagePullBackOff: ghcr.io/oprc/web:1 not found",
        )
        const degraded = await eventually("web Degraded", async () => {
          const s = await phase(web.id)
          return s.phase === commonv1.DeploymentPhase.DEGRADED ? s : undefined
        }, 15_000)
        const c = degraded.conditions.find((x) => x.type === "Degraded")!
        expect(c.reason).toBe("WorkloadFailed")
        expect(c.message).toContain("ImagePullBackOff")
        k.emulator.hooks.succeedWorkload("Deployment", "default", "web-local-counter-fn")
        await eventually(
          "web Running again",
          async () => ((await phase(web.id)).phase === commonv1.DeploymentPhase.RUNNING ? true : undefined),
          15_000,
        )
      } finally {
        await crm.stop()
        await odgm.stop()
        await k.emulator.stop()
      }
    },
    60_000,
  )
})
