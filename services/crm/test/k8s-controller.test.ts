import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import * as k8s from "@kubernetes/client-node"
import { Effect } from "effect"
import { deploymentUnitToProto } from "@oprc/models"
import { commonv1 } from "@oprc/proto"
import { startK8s, startK8sCrm } from "./k8s-support"
import { counterUnit, eventually, runtimeClient, startOdgm } from "./support"

const run = <A, E>(e: Effect.Effect<A, E>) => Effect.runPromise(e)
const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch)
const rec = { group: "oprc.dev", version: "v1alpha1", namespace: "default", plural: "deploymentrecords" }
const unit = (id: string, provision: Record<string, unknown> = {}, over: Record<string, unknown> = {}) =>
  counterUnit({ id, deploymentKey: id.replace(/-local$/, ""), template: "k8s-deployment", ...over } as never, [], {
    image: "ghcr.io/oprc/counter:1",
    ...provision,
  })

let k: Awaited<ReturnType<typeof startK8s>>
let odgm: Awaited<ReturnType<typeof startOdgm>>
beforeAll(async () => {
  k = await startK8s()
  odgm = await startOdgm()
})
afterAll(async () => {
  await odgm.stop()
  await k.emulator.stop()
})

const available = (name: string, generation?: number) =>
  eventually(`${name} Available`, async () => {
    const r: any = await k.record(name)
    const ok = r?.status?.conditions?.find((c: any) => c.type === "Available")?.status === "True" &&
      r.status.observedGeneration === r.metadata.generation
    return ok && (generation === undefined || r.metadata.generation === generation) ? r : undefined
  }, 15_000).catch(async (e) => {
    const r: any = await k.record(name)
    throw new Error(
      `${e.message}; record: ${
        JSON.stringify({ finalizers: r?.metadata?.finalizers, generation: r?.metadata?.generation, status: r?.status })
      }`,
    )
  })
const replicas = async (name: string) =>
  (await k.apps.readNamespacedDeployment({ name, namespace: "default" })).spec!.replicas

describe("kubernetes driver: controller behaviour against the emulator", () => {
  test(
    "two CRMs, one Lease: only the holder reconciles (its identity on every Event); a killed leader is replaced within the lease duration",
    async () => {
      const a = await startK8sCrm(odgm.url, k.emulator.kubeconfigPath, {
        identity: "crm-a",
        leaseName: "le-test",
        leaseDurationMs: 1500,
      })
      let b: Awaited<ReturnType<typeof startK8sCrm>> | undefined
      try {
        await eventually(
          "a leads",
          async () => ((await k.kc.makeApiClient(k8s.CoordinationV1Api).readNamespacedLease({
              name: "le-test",
              namespace: "default",
            })).spec?.holderIdentity === "crm-a"
            ? true
            : undefined),
        )
        b = await startK8sCrm(odgm.url, k.emulator.kubeconfigPath, {
          identity: "crm-b",
          leaseName: "le-test",
          leaseDurationMs: 1500,
        })
        const u = unit("le-one-local")
        await run(runtimeClient(b.url).applyDeploymentUnit({ unit: deploymentUnitToProto(u) }))
        await available(u.id)
        const reporters = async (name: string) =>
          new Set(
            (await k.core.listNamespacedEvent({ namespace: "default" })).items.filter((e) =>
              e.involvedObject.name === name
            ).map((e) => e.reportingInstance),
          )
        expect([...(await reporters(u.id))]).toEqual(["crm-a"])
        // crm-a's store does not have the unit (crm-b took the Apply): past a resync it must not remove it as an orphan.
        const uid = ((await k.record(u.id)) as any).metadata.uid
        await Bun.sleep(2500)
        expect(((await k.record(u.id)) as any)?.metadata.uid).toBe(uid)

        const killedAt = Date.now()
        await a.stop() // no release: the Lease must expire
        const lease = await eventually("b takes over", async () => {
          const l = await k.kc.makeApiClient(k8s.CoordinationV1Api).readNamespacedLease({
            name: "le-test",
            namespace: "default",
          })
          return l.spec?.holderIdentity === "crm-b" ? l : undefined
        }, 10_000)
        const takeover = Date.now() - killedAt
        // Lease duration 1.5 s plus at most one retry period (0.5 s) and a loaded machine's slack.
        expect(takeover).toBeLessThan(1500 + 500 + 2000)
        expect(lease.spec!.leaseTransitions).toBeGreaterThanOrEqual(1)
        const u2 = unit("le-two-local")
        await run(runtimeClient(b.url).applyDeploymentUnit({ unit: deploymentUnitToProto(u2) }))
        await available(u2.id)
        expect([...(await reporters(u2.id))]).toEqual(["crm-b"])
        console.log(`leader failover: ${takeover} ms after the leader stopped (lease 1500 ms)`)
        for (const id of [u.id, u2.id]) await run(runtimeClient(b.url).deleteDeploymentUnit({ unitId: id }))
      } finally {
        await a.stop().catch(() => {})
        await b?.stop()
      }
    },
    60_000,
  )

  test(
    "a watch broken with 410 Gone: re-list, and changes made meanwhile converge; another manager's write to a child is taken back",
    async () => {
      const crm = await startK8sCrm(odgm.url, k.emulator.kubeconfigPath, { identity: "crm-w", leaseName: "w-test" })
      try {
        const u = unit("watch-local")
        await run(runtimeClient(crm.url).applyDeploymentUnit({ unit: deploymentUnitToProto(u) }))
        const r = await available(u.id)
        // History gone, watches cut: the informer's re-watch from its resourceVersion gets 410, it re-lists.
        const marker = `/version?marker=${crypto.randomUUID()}`
        await fetch(k.emulator.url + marker)
        k.emulator.hooks.compact()
        k.emulator.hooks.dropWatches()
        const u2 = unit("watch-local", { minScale: 3, maxScale: 3 }, { generation: 2 })
        await run(runtimeClient(crm.url).applyDeploymentUnit({ unit: deploymentUnitToProto(u2) }))
        await eventually(
          "3 replicas after the re-list",
          async () => ((await replicas("watch-local-counter-fn")) === 3 ? true : undefined),
          10_000,
        )
        await available(u.id, r.metadata.generation + 1)
        const log = k.emulator.hooks.requests()
        const since = log.slice(log.findIndex((l) => l.includes(marker)) + 1)
        // The re-watch from the old resourceVersion met 410, so the records were listed again.
        expect(
          since.some((l) =>
            /^GET \/apis\/oprc.dev\/v1alpha1\/namespaces\/default\/deploymentrecords(\?(?!.*watch=true).*)?$/.test(l)
          ),
        ).toBe(true)

        // Someone else scales the Deployment: the controller's force-apply takes its field back at the next pass.
        await k.apps.patchNamespacedDeployment({
          name: "watch-local-counter-fn",
          namespace: "default",
          body: { spec: { replicas: 7 } },
          fieldManager: "intruder",
        }, merge)
        await k.custom.patchNamespacedCustomObject({
          ...rec,
          name: u.id,
          body: { metadata: { annotations: { poke: "1" } } },
        }, merge)
        await eventually(
          "back to 3",
          async () => ((await replicas("watch-local-counter-fn")) === 3 ? true : undefined),
          10_000,
        )
        await run(runtimeClient(crm.url).deleteDeploymentUnit({ unitId: u.id }))
      } finally {
        await crm.stop()
      }
    },
    60_000,
  )

  test(
    "a conflicting write (the record changed between the controller's read and its finalizer patch) is a 409, retried until it converges",
    async () => {
      const crm = await startK8sCrm(odgm.url, k.emulator.kubeconfigPath, { identity: "crm-c", leaseName: "c-test" })
      const retries = async () => {
        const text = await (await fetch(`${crm.url}/metrics`)).text()
        const line = text.split("\n").find((l) =>
          l.startsWith("oprc_reconcile_runs_total") && l.includes(`controller="crm-k8s-records"`) &&
          l.includes(`outcome="retry"`)
        )
        return line === undefined ? 0 : Number(line.split(" ").at(-1))
      }
      try {
        await Bun.sleep(300)
        const before = await retries()
        // Every request waits 150 ms: our label patch, sent right after the create, lands before the
        // controller's finalizer patch, which carries the resourceVersion it read with the create.
        k.emulator.hooks.setLatency(150)
        await k.custom.createNamespacedCustomObject({
          ...rec,
          body: {
            apiVersion: "oprc.dev/v1alpha1",
            kind: "DeploymentRecord",
            metadata: { name: "conflict" },
            spec: {
              unitId: "conflict",
              deploymentKey: "conflict",
              packageName: "c",
              class: { key: "C", bindings: [{ name: "f", function: "C.fn" }] },
              functions: [{ key: "C.fn", image: "ghcr.io/x/c:1", minScale: 1, maxScale: 1 }],
              template: "k8s-deployment",
            },
          },
        })
        await k.custom.patchNamespacedCustomObject({
          ...rec,
          name: "conflict",
          body: { metadata: { labels: { touched: "yes" } } },
        }, merge)
        await Bun.sleep(600)
        k.emulator.hooks.setLatency(0)
        const r = await available("conflict")
        expect(r.metadata.finalizers).toContain("oprc.dev/cleanup")
        expect(r.metadata.labels.touched).toBe("yes")
        expect(await retries()).toBeGreaterThan(before)
        await k.custom.deleteNamespacedCustomObject({ ...rec, name: "conflict" })
        await eventually("gone", async () => ((await k.record("conflict")) === undefined ? true : undefined), 10_000)
      } finally {
        k.emulator.hooks.setLatency(0)
        await crm.stop()
      }
    },
    60_000,
  )

  test(
    "unknown template: Failed with the reason in the conditions, no crash (the next unit runs); an invalid record is 422 with the field paths",
    async () => {
      const crm = await startK8sCrm(odgm.url, k.emulator.kubeconfigPath, { identity: "crm-t", leaseName: "t-test" })
      try {
        const client = runtimeClient(crm.url)
        const bad = unit("tpl-bad-local", {}, { template: "lambda" })
        await run(client.applyDeploymentUnit({ unit: deploymentUnitToProto(bad) }))
        const s = await eventually("Failed", async () => {
          const st = (await run(client.getDeploymentUnit({ unitId: bad.id }))).status!
          return st.phase === commonv1.DeploymentPhase.FAILED ? st : undefined
        }, 15_000)
        const degraded = s.conditions.find((c) => c.type === "Degraded")!
        expect(degraded.reason).toBe("UnknownTemplate")
        expect(degraded.message).toContain(`unknown template "lambda"`)
        const good = unit("tpl-good-local")
        await run(client.applyDeploymentUnit({ unit: deploymentUnitToProto(good) }))
        await available(good.id)

        let err: any
        try {
          await k.custom.createNamespacedCustomObject({
            ...rec,
            body: {
              apiVersion: "oprc.dev/v1alpha1",
              kind: "DeploymentRecord",
              metadata: { name: "broken" },
              spec: {
                unitId: "broken",
                deploymentKey: "b",
                packageName: "b",
                class: { key: "C" },
                functions: [{ key: "C.f", minScale: -1 }],
                enforcement: "SOMETIMES",
              },
            },
          })
        } catch (e) {
          err = e
        }
        expect(err?.code).toBe(422)
        const body = typeof err.body === "string" ? JSON.parse(err.body) : err.body
        const fields = body.details.causes.map((c: any) => c.field).sort()
        expect(fields).toEqual(["spec.enforcement", "spec.functions[0].minScale"])
        for (const id of [bad.id, good.id]) await run(client.deleteDeploymentUnit({ unitId: id }))
      } finally {
        await crm.stop()
      }
    },
    60_000,
  )
})
