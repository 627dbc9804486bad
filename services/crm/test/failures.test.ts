import { describe, expect, test } from "bun:test"
import { createServer, type Server } from "node:net"
import { Effect } from "effect"
import { deploymentUnitToProto } from "@oprc/models"
import { commonv1 } from "@oprc/proto"
import { makeTempDir } from "@oprc/test-harness"
import {
  bun,
  conditionOf,
  counterUnit,
  crmForFile,
  eventually,
  pidOf,
  pidsOfUnit,
  run,
  runtimeClient,
  startCrm,
  unitStatus,
} from "./support"

const world = crmForFile("crm-failures")
const statusOf = (unitId: string) => unitStatus(world.client, unitId)

const apply = (unit: ReturnType<typeof counterUnit>) =>
  run(world.client.applyDeploymentUnit({ unit: deploymentUnitToProto(unit) }))
const waitPhase = (unitId: string, phase: commonv1.DeploymentPhase, ms = 20_000) =>
  eventually(`${unitId} in phase ${commonv1.DeploymentPhase[phase]}`, async () => {
    const s = await statusOf(unitId)
    return s.phase === phase ? s : undefined
  }, ms)

describe("failures", () => {
  test(
    "SIGKILL of a replica under load: Degraded, restarted, Available again; no invocation outlives its deadline",
    async () => {
      const unit = counterUnit({ id: "kill-local", deploymentKey: "kill", packageName: "kill" as never })
      await apply(unit)
      await waitPhase(unit.id, commonv1.DeploymentPhase.RUNNING)
      const first = pidOf(unit.id, 0)!
      expect(first).toBeGreaterThan(0)

      let stop = false
      const slowest: Array<number> = []
      const statuses = new Map<number, number>()
      const load = async () => {
        while (!stop) {
          const t = performance.now()
          const r = await fetch(
            `${world.odgm.url}/api/class/kill.Counter/0/objects/k1/invokes/increment?timeoutMs=2000`,
            {
              method: "POST",
              body: "{}",
              headers: { "content-type": "application/json" },
            },
          )
          await r.arrayBuffer()
          slowest.push(performance.now() - t)
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
        }
      }
      const loops = [load(), load()]
      await Bun.sleep(300)
      process.kill(first, "SIGKILL")
      const degraded = await waitPhase(unit.id, commonv1.DeploymentPhase.DEGRADED, 5000)
      expect(conditionOf(degraded, "Degraded")?.message).toContain("was stopped by SIGKILL")
      const back = await waitPhase(unit.id, commonv1.DeploymentPhase.RUNNING)
      expect(conditionOf(back, "Available")?.status).toBe(commonv1.ConditionStatus.TRUE)
      const second = pidOf(unit.id, 0)
      expect(second).toBeDefined()
      expect(second).not.toBe(first)
      await Bun.sleep(300)
      stop = true
      await Promise.all(loops)
      // 2 s deadline plus scheduling slack on a loaded machine: nothing hangs.
      expect(Math.max(...slowest)).toBeLessThan(4000)
      expect(statuses.get(200) ?? 0).toBeGreaterThan(0)
      for (const code of statuses.keys()) expect([200, 503, 504]).toContain(code)
      await run(world.client.deleteDeploymentUnit({ unitId: unit.id }))
      expect(pidsOfUnit(unit.id)).toEqual([])
    },
    60_000,
  )

  test(
    "a replica that stops answering (SIGSTOP) leaves the route after failed health checks and rejoins when it answers",
    async () => {
      const local = await startCrm(world.odgm.url, makeTempDir("crm-health"), {
        driver: { process: { healthIntervalMs: 200, healthFailures: 2 } },
      })
      const c = runtimeClient(local.url)
      const unit = counterUnit({ id: "frozen-local", deploymentKey: "frozen", packageName: "frozen" as never })
      const status = async () => (await run(c.getDeploymentUnit({ unitId: unit.id }))).status!
      try {
        await run(c.applyDeploymentUnit({ unit: deploymentUnitToProto(unit) }))
        await eventually(
          "Running",
          async () => ((await status()).phase === commonv1.DeploymentPhase.RUNNING ? true : undefined),
        )
        const pid = pidOf(unit.id, 0)!
        process.kill(pid, "SIGSTOP")
        const out = await eventually("out of the route", async () => {
          const s = await status()
          return s.functions[0]?.readyReplicas === 0 ? s : undefined
        }, 10_000)
        expect(out.functions[0]?.message).toContain("failed 2 health checks in a row")
        expect(conditionOf(out, "Degraded")?.status).toBe(commonv1.ConditionStatus.TRUE)
        // ODGM no longer calls it: the invocation fails fast instead of hanging on a frozen process.
        const t = performance.now()
        const r = await fetch(`${world.odgm.url}/api/class/frozen.Counter/0/objects/f1/invokes/get?timeoutMs=3000`, {
          method: "POST",
        })
        expect(r.status).toBe(503)
        expect(performance.now() - t).toBeLessThan(1500)
        process.kill(pid, "SIGCONT")
        await eventually(
          "back in the route",
          async () => ((await status()).phase === commonv1.DeploymentPhase.RUNNING ? true : undefined),
          10_000,
        )
        expect(pidOf(unit.id, 0)).toBe(pid)
        await run(c.deleteDeploymentUnit({ unitId: unit.id }))
      } finally {
        const left = pidOf(unit.id, 0)
        if (left !== undefined) process.kill(left, "SIGCONT")
        await local.stop()
      }
    },
    60_000,
  )

  test(
    "a crash-looping command backs off and says why: Degraded with the exit code and the last stderr line",
    async () => {
      const unit = counterUnit({ id: "loop-local", deploymentKey: "loop", packageName: "loop" as never }, [
        bun,
        "-e",
        "console.error('boom: DATABASE_URL is not set'); process.exit(3)",
      ])
      await apply(unit)
      const s = await eventually("crash loop reported", async () => {
        const st = await statusOf(unit.id)
        return conditionOf(st, "Degraded")?.reason === "CrashLoop" ? st : undefined
      }, 15_000)
      expect(s.phase).toBe(commonv1.DeploymentPhase.DEGRADED)
      const message = conditionOf(s, "Degraded")!.message
      expect(message).toContain("function `Counter.fn`")
      expect(message).toContain("exited with code 3")
      expect(message).toContain("three times")
      expect(message).toContain("boom: DATABASE_URL is not set")
      expect(conditionOf(s, "Available")?.status).toBe(commonv1.ConditionStatus.FALSE)
      // Backoff, not a busy loop: starts double their delay from 100 ms, so 3 s hold at most ~6.
      const before =
        (await run(world.client.tailLogs({ unitId: unit.id, function: "Counter.fn", replica: 0, lines: 1000 }))).lines
          .length
      await Bun.sleep(3000)
      const after =
        (await run(world.client.tailLogs({ unitId: unit.id, function: "Counter.fn", replica: 0, lines: 1000 }))).lines
          .length
      expect(after - before).toBeGreaterThanOrEqual(1)
      expect(after - before).toBeLessThanOrEqual(6)
      await run(world.client.deleteDeploymentUnit({ unitId: unit.id }))
    },
    60_000,
  )

  test(
    "bad input: each unit gets a clear condition, nothing crashes, and a good unit still runs beside them",
    async () => {
      const taken: Server = createServer()
      const port = await new Promise<number>((ok) =>
        taken.listen(0, "127.0.0.1", () => ok((taken.address() as { port: number }).port))
      )
      try {
        const missing = counterUnit({ id: "nocmd-local", deploymentKey: "nocmd", packageName: "nocmd" as never }, [])
        const nonexistent = counterUnit({ id: "nobin-local", deploymentKey: "nobin", packageName: "nobin" as never }, [
          "no-such-command-oprc",
          "x",
        ])
        const portTaken = counterUnit(
          { id: "port-local", deploymentKey: "port", packageName: "port" as never },
          undefined,
          { port },
        )
        const template = counterUnit({
          id: "tmpl-local",
          deploymentKey: "tmpl",
          packageName: "tmpl" as never,
          template: "knative",
        })
        const nowhere = counterUnit(
          { id: "nodir-local", deploymentKey: "nodir", packageName: "nodir" as never },
          undefined,
          { workingDir: "no/such/dir" },
        )
        const good = counterUnit({ id: "good-local", deploymentKey: "good", packageName: "good" as never })
        for (const u of [missing, nonexistent, portTaken, template, nowhere, good]) await apply(u)

        const failed = await waitPhase(missing.id, commonv1.DeploymentPhase.FAILED)
        expect(failed.message).toContain("function `Counter.fn`: provision.command is empty")
        const tmpl = await waitPhase(template.id, commonv1.DeploymentPhase.FAILED)
        expect(conditionOf(tmpl, "Degraded")?.reason).toBe("UnknownTemplate")
        expect(tmpl.message).toContain(`template "knative" is not known`)
        const nobin = await eventually("not found reported", async () => {
          const st = await statusOf(nonexistent.id)
          return st.functions[0]?.message.includes("was not found") ? st : undefined
        })
        expect(nobin.functions[0]!.message).toContain("command `no-such-command-oprc` was not found")
        expect(conditionOf(nobin, "Available")?.status).toBe(commonv1.ConditionStatus.FALSE)
        const busy = await eventually("port taken reported", async () => {
          const st = await statusOf(portTaken.id)
          return st.functions[0]?.message.includes("is taken") ? st : undefined
        })
        expect(busy.functions[0]!.message).toContain(`port ${port} (provision.port) is taken`)
        const nodir = await eventually("missing working dir reported", async () => {
          const st = await statusOf(nowhere.id)
          return st.functions[0]?.message.includes("does not exist") ? st : undefined
        })
        expect(nodir.functions[0]!.message).toContain("no/such/dir does not exist")
        await waitPhase(good.id, commonv1.DeploymentPhase.RUNNING)

        // An invalid unit is refused with the field path; a unit for another cluster too.
        const bad = deploymentUnitToProto(counterUnit())
        bad.cls!.bindings[0]!.function = "Nope.fn"
        const refused = await Effect.runPromise(Effect.flip(world.client.applyDeploymentUnit({ unit: bad })))
        expect(refused.code).toBe("invalid_argument")
        expect(refused.reason).toContain("unit.cls.bindings[0].function")
        const traversal = await Effect.runPromise(
          Effect.flip(
            world.client.applyDeploymentUnit({ unit: deploymentUnitToProto(counterUnit({ id: "../../etc/x" })) }),
          ),
        )
        expect(traversal.code).toBe("invalid_argument")
        expect(traversal.reason).toContain("unit.id")
        const elsewhere = await Effect.runPromise(
          Effect.flip(
            world.client.applyDeploymentUnit({ unit: deploymentUnitToProto(counterUnit({ cluster: "edge" })) }),
          ),
        )
        expect(elsewhere.code).toBe("invalid_argument")
        expect(elsewhere.reason).toContain("unit.cluster")
        for (const u of [missing, nonexistent, portTaken, template, nowhere, good]) {
          await run(
            world.client.deleteDeploymentUnit({ unitId: u.id }),
          )
        }
        expect(pidsOfUnit(good.id)).toEqual([])
      } finally {
        taken.close()
      }
    },
    60_000,
  )
})
