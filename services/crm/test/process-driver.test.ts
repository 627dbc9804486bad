import { describe, expect, test } from "bun:test"
import { deploymentUnitToProto } from "@oprc/models"
import { commonv1 } from "@oprc/proto"
import { conditionOf, counterUnit, crmForFile, eventually, pidOf, pidsOfUnit, run, unitStatus } from "./support"

const world = crmForFile("crm-process")
const statusOf = (unitId: string) => unitStatus(world.client, unitId)

describe("process driver", () => {
  test(
    "a counter unit runs as a process registered with ODGM, answers invocations, and delete leaves nothing",
    async () => {
      const unit = counterUnit()
      const applied = await run(world.client.applyDeploymentUnit({ unit: deploymentUnitToProto(unit) }))
      expect(applied.status?.observedGeneration).toBe(1n)
      const running = await eventually("Running", async () => {
        const s = await statusOf(unit.id)
        return s.phase === commonv1.DeploymentPhase.RUNNING ? s : undefined
      })
      expect(running.functions[0]?.readyReplicas).toBe(1)
      expect(conditionOf(running, "Available")?.status).toBe(commonv1.ConditionStatus.TRUE)
      const url = running.functions[0]!.url
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)

      const invoke = (fn: string) =>
        fetch(`${world.odgm.url}/api/class/counter.Counter/0/objects/c1/invokes/${fn}`, {
          method: "POST",
          body: JSON.stringify({ by: 2 }),
          headers: { "content-type": "application/json" },
        })
      const r1 = await invoke("increment")
      expect(r1.status).toBe(200)
      expect(await r1.json()).toMatchObject({ count: 2 })

      // An idempotent re-send changes nothing (same process, same URL).
      await run(world.client.applyDeploymentUnit({ unit: deploymentUnitToProto(unit) }))
      expect((await statusOf(unit.id)).functions[0]?.url).toBe(url)

      const port = Number(new URL(url).port)
      const deleted = await run(world.client.deleteDeploymentUnit({ unitId: unit.id }))
      expect(deleted.existed).toBe(true)
      // Processes gone, routes gone.
      const alive = await fetch(`${url}/readyz`).then(() => true, () => false)
      expect(alive).toBe(false)
      expect(port).toBeGreaterThan(0)
      const after = await invoke("increment")
      expect(after.status).toBe(404)
    },
    60_000,
  )

  test("replicas of a function (minScale 2) all get registered and ODGM spreads invocations over them", async () => {
    const unit = counterUnit(
      { id: "counter-two-local", deploymentKey: "counter-two", packageName: "counter2" as never },
      undefined,
      { minScale: 2 },
    )
    await run(world.client.applyDeploymentUnit({ unit: deploymentUnitToProto(unit) }))
    const running = await eventually("Running with 2 replicas", async () => {
      const s = await statusOf(unit.id)
      return s.phase === commonv1.DeploymentPhase.RUNNING && s.functions[0]?.readyReplicas === 2 ? s : undefined
    })
    const urls = running.functions[0]!.urls
    expect(urls.length).toBe(2)
    for (let i = 0; i < 20; i++) {
      const r = await fetch(`${world.odgm.url}/api/class/counter2.Counter/0/objects/o${i}/invokes/increment`, {
        method: "POST",
        body: "{}",
        headers: { "content-type": "application/json" },
      })
      expect(r.status).toBe(200)
    }
    const served = await Promise.all(urls.map(async (u) => {
      const text = await (await fetch(`${u}/metrics`)).text()
      const line = text.split("\n").find((l) =>
        l.startsWith("oprc_rpc_requests_total") && l.includes("Invoke") && l.includes("ok")
      )
      return Number(line?.split(" ").at(-1) ?? 0)
    }))
    expect(served.every((n) => n >= 5), `invocations per replica: ${served.join(", ")}`).toBe(true)
    expect(served.reduce((a, b) => a + b, 0)).toBe(20)
    await run(world.client.deleteDeploymentUnit({ unitId: unit.id }))
  }, 60_000)

  test(
    "a new generation with a changed spec rolls over: the old process serves until its replacement is ready, no failed call",
    async () => {
      const gen1 = counterUnit({ id: "roll-local", deploymentKey: "roll", packageName: "roll" as never })
      await run(world.client.applyDeploymentUnit({ unit: deploymentUnitToProto(gen1) }))
      await eventually(
        "Running",
        async () => ((await statusOf(gen1.id)).phase === commonv1.DeploymentPhase.RUNNING ? true : undefined),
      )
      const before = pidOf(gen1.id, 0)
      let stop = false
      const codes = new Map<number, number>()
      const load = async () => {
        while (!stop) {
          const r = await fetch(`${world.odgm.url}/api/class/roll.Counter/0/objects/r1/invokes/increment`, {
            method: "POST",
            body: "{}",
            headers: { "content-type": "application/json" },
          })
          await r.arrayBuffer()
          codes.set(r.status, (codes.get(r.status) ?? 0) + 1)
        }
      }
      const loop = load()
      await Bun.sleep(200)
      const gen2 = counterUnit(
        { ...gen1, generation: 2, functions: [{ ...gen1.functions[0]!, config: { GREETING: "v2" } }] } as never,
      )
      await run(world.client.applyDeploymentUnit({ unit: deploymentUnitToProto(gen2) }))
      const done = await eventually("generation 2 Running on a new process", async () => {
        const s = await statusOf(gen1.id)
        const pid = pidOf(gen1.id, 0)
        return s.observedGeneration === 2n && s.phase === commonv1.DeploymentPhase.RUNNING && pid !== before &&
            pidsOfUnit(gen1.id).length === 1
          ? s
          : undefined
      })
      await Bun.sleep(200)
      stop = true
      await loop
      expect(done.functions[0]?.readyReplicas).toBe(1)
      expect(Object.fromEntries(codes)).toEqual({ 200: codes.get(200) ?? 0 })
      const env = require("node:fs").readFileSync(`/proc/${pidOf(gen1.id, 0)}/environ`, "utf8") as string
      expect(env.split("\0")).toContain("GREETING=v2")
      await run(world.client.deleteDeploymentUnit({ unitId: gen1.id }))
    },
    60_000,
  )
})
