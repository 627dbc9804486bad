import { afterAll, describe, expect, test } from "bun:test"
import { Effect, Fiber, Stream } from "effect"
import { deploymentUnitToProto } from "@oprc/models"
import { commonv1 } from "@oprc/proto"
import { freePort, makeTempDir, removeTempDir, startEtcd } from "@oprc/test-harness"
import { counterUnit, eventually, pidOf, pidsOfUnit, run, runtimeClient, startCrm, startOdgm } from "./support"

const dirs: Array<string> = []
const tmp = (name: string) => {
  const d = makeTempDir(name)
  dirs.push(d)
  return d
}
afterAll(() => dirs.forEach(removeTempDir))

describe("RuntimeService and ClusterInfoService", () => {
  test(
    "Watch starts with the current state, then streams changes; /metrics counts reconciles and replicas",
    async () => {
      const odgm = await startOdgm()
      const crm = await startCrm(odgm.url, tmp("crm-watch"))
      try {
        const client = runtimeClient(crm.url)
        const first = counterUnit({ id: "w1-local", deploymentKey: "w1", packageName: "w1" as never })
        await run(client.applyDeploymentUnit({ unit: deploymentUnitToProto(first) }))
        await eventually(
          "w1 Running",
          async () => ((await run(client.getDeploymentUnit({ unitId: first.id }))).status?.phase ===
              commonv1.DeploymentPhase.RUNNING
            ? true
            : undefined),
        )
        const seen: Array<string> = []
        const fiber = Effect.runFork(
          client.watchDeploymentUnits({}).pipe(
            Stream.tap((r) =>
              Effect.sync(() => void seen.push(`${r.status?.unitId} ${commonv1.DeploymentPhase[r.status?.phase ?? 0]}`))
            ),
            Stream.runDrain,
          ),
        )
        await eventually("current state first", async () => (seen.length >= 1 ? true : undefined))
        expect(seen[0]).toBe("w1-local RUNNING")
        const second = counterUnit({ id: "w2-local", deploymentKey: "w2", packageName: "w2" as never })
        await run(client.applyDeploymentUnit({ unit: deploymentUnitToProto(second) }))
        await eventually("w2 Running streamed", async () => (seen.includes("w2-local RUNNING") ? true : undefined))
        expect(
          seen.indexOf("w2-local PENDING") < seen.indexOf("w2-local RUNNING") ||
            seen.indexOf("w2-local DEPLOYING") < seen.indexOf("w2-local RUNNING"),
        ).toBe(true)
        await run(Fiber.interrupt(fiber))

        const metrics = await (await fetch(`${crm.url}/metrics`)).text()
        expect(metrics).toMatch(/oprc_reconcile_runs_total\{[^}]*controller="crm-units"[^}]*\} [1-9]/)
        expect(metrics).toMatch(/oprc_crm_replicas_ready\{[^}]*unit_id="w2-local"[^}]*\} 1/)
        expect(metrics).toMatch(/oprc_crm_replicas_desired\{[^}]*unit_id="w2-local"[^}]*\} 1/)
        const info = await (await fetch(`${crm.url}/oprc.crm.v1.ClusterInfoService/GetClusterInfo`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "{}",
        })).json() as Record<string, unknown>
        expect(info).toMatchObject({
          cluster: "local",
          driver: "process",
          healthy: true,
          units: 2,
          replicas: 2,
          availability: 1,
        })
        expect(Number(info.cpuCores)).toBeGreaterThan(0)
        for (const u of [first, second]) await run(client.deleteDeploymentUnit({ unitId: u.id }))
      } finally {
        await crm.stop()
        await odgm.stop()
      }
    },
    60_000,
  )

  test("without ODGM: /readyz and cluster health say so, and a unit waits with the reason", async () => {
    const port = await freePort()
    const crm = await startCrm(`http://127.0.0.1:${port}`, tmp("crm-noodgm"), {
      odgm: { url: `http://127.0.0.1:${port}`, timeoutMs: 500 },
    })
    try {
      const client = runtimeClient(crm.url)
      const ready = await fetch(`${crm.url}/readyz`)
      expect(ready.status).toBe(503)
      expect(JSON.stringify(await ready.json())).toContain(`ODGM at http://127.0.0.1:${port} does not answer`)
      const unit = counterUnit({ id: "noodgm-local", deploymentKey: "noodgm", packageName: "noodgm" as never })
      await run(client.applyDeploymentUnit({ unit: deploymentUnitToProto(unit) }))
      const waiting = await eventually("DriverError reported", async () => {
        const s = (await run(client.getDeploymentUnit({ unitId: unit.id }))).status!
        return s.conditions.find((c) => c.type === "Progressing")?.reason === "DriverError" ? s : undefined
      })
      expect(waiting.message).toContain(`cannot apply collection noodgm.Counter to ODGM at http://127.0.0.1:${port}`)
      expect(waiting.phase).not.toBe(commonv1.DeploymentPhase.RUNNING)
      const info = await (await fetch(`${crm.url}/oprc.crm.v1.ClusterInfoService/GetClusterInfo`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      })).json() as Record<string, unknown>
      // proto3 JSON leaves false out.
      expect(info.healthy ?? false).toBe(false)
      await run(client.deleteDeploymentUnit({ unitId: unit.id }).pipe(Effect.ignore))
    } finally {
      await crm.stop()
    }
  }, 60_000)

  test("etcd storage: a restarted CRM finds its acknowledged unit and adopts the same process", async () => {
    const etcd = await startEtcd()
    const odgm = await startOdgm()
    const dir = tmp("crm-etcd")
    const input = {
      storage: { kind: "etcd" as const, etcd: { endpoints: etcd.endpoints, prefix: "/test-crm" } },
      driver: { process: { stopOnExit: false } },
    }
    let crm = await startCrm(odgm.url, dir, input)
    const unit = counterUnit({ id: "etcd-local", deploymentKey: "etcd", packageName: "etcdpkg" as never })
    try {
      await run(runtimeClient(crm.url).applyDeploymentUnit({ unit: deploymentUnitToProto(unit) }))
      await eventually(
        "Running",
        async () => ((await run(runtimeClient(crm.url).getDeploymentUnit({ unitId: unit.id }))).status?.phase ===
            commonv1.DeploymentPhase.RUNNING
          ? true
          : undefined),
      )
      const pid = pidOf(unit.id, 0)
      await crm.stop()
      crm = await startCrm(odgm.url, dir, input)
      const after = await eventually("Running after restart", async () => {
        const s = (await run(runtimeClient(crm.url).getDeploymentUnit({ unitId: unit.id }))).status
        return s?.phase === commonv1.DeploymentPhase.RUNNING ? s : undefined
      })
      expect(after.observedGeneration).toBe(1n)
      expect(pidOf(unit.id, 0)).toBe(pid)
      await run(runtimeClient(crm.url).deleteDeploymentUnit({ unitId: unit.id }))
      expect(pidOf(unit.id, 0)).toBeUndefined()
    } finally {
      const left = pidOf(unit.id, 0)
      if (left !== undefined) process.kill(left, "SIGKILL")
      await crm.stop()
      await odgm.stop()
      await etcd.stop()
    }
  }, 60_000)

  test("a restarted CRM replaces a replica that died while it was down, and starts no second one", async () => {
    const odgm = await startOdgm()
    const dir = tmp("crm-dead")
    const input = { driver: { process: { stopOnExit: false } } }
    let crm = await startCrm(odgm.url, dir, input)
    const unit = counterUnit({ id: "dead-local", deploymentKey: "dead", packageName: "deadpkg" as never }, undefined, {
      minScale: 2,
    })
    try {
      await run(runtimeClient(crm.url).applyDeploymentUnit({ unit: deploymentUnitToProto(unit) }))
      const running = async () => {
        const s = (await run(runtimeClient(crm.url).getDeploymentUnit({ unitId: unit.id }))).status
        return s?.phase === commonv1.DeploymentPhase.RUNNING && s.functions[0]?.readyReplicas === 2 ? s : undefined
      }
      await eventually("Running with 2", running)
      const [p0, p1] = [pidOf(unit.id, 0)!, pidOf(unit.id, 1)!]
      await crm.stop()
      process.kill(p1, "SIGKILL")
      await eventually("replica 1 gone", async () => (pidOf(unit.id, 1) === undefined ? true : undefined))
      crm = await startCrm(odgm.url, dir, input)
      await eventually("Running with 2 again", running)
      expect(pidOf(unit.id, 0)).toBe(p0)
      const replaced = pidOf(unit.id, 1)
      expect(replaced).toBeDefined()
      expect(replaced).not.toBe(p1)
      expect(pidsOfUnit(unit.id).length).toBe(2)
      await run(runtimeClient(crm.url).deleteDeploymentUnit({ unitId: unit.id }))
      await eventually("all stopped", async () => (pidsOfUnit(unit.id).length === 0 ? true : undefined))
    } finally {
      for (const pid of pidsOfUnit(unit.id)) process.kill(pid, "SIGKILL")
      await crm.stop()
      await odgm.stop()
    }
  }, 60_000)
})
