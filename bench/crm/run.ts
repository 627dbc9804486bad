// bench/crm: the CRM with the process driver holding N units of a trivial function.
//  1. apply -> Available per unit, minus the function process's own start time (its log says
//     when it started and when it listened); p50 target < 200 ms.
//  2. reconcile throughput: every unit re-applied at a new generation (same spec: no restart),
//     units/s until all report it.
//  3. idle CPU of the CRM process holding the N units, over a few seconds.
// Usage: bun bench/crm/run.ts [units=100] [idle seconds=5] [applies in flight=10]. ODGM and the CRM run from source as
// separate processes on free ports, with memory storage; everything is cleaned up at the end.
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { makeTempDir, removeTempDir } from "@oprc/test-harness"
import { percentile } from "../lib/report"
import { startOdgmAndCrm } from "../lib/services"
import { cpuMs } from "../lib/servers"

const units = Number(process.argv[2] ?? 100)
const idleSeconds = Number(process.argv[3] ?? 5)
const inflight = Number(process.argv[4] ?? 10)
const root = new URL("../..", import.meta.url).pathname
const dir = makeTempDir("bench-crm")
const logDir = join(dir, "logs")
const { odgm, crm } = await startOdgmAndCrm({
  args: [],
  env: { OPRC_DRIVER_PROCESS_LOG_DIR: logDir, OPRC_DRIVER_PROCESS_STOP_ON_EXIT: "true" },
})
const CRM = crm.url

const call = async (method: string, body: unknown) => {
  const r = await fetch(`${CRM}/oprc.crm.v1.RuntimeService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  })
  if (r.status !== 200) throw new Error(`${method}: HTTP ${r.status} ${await r.text()}`)
  return r.json() as Promise<any>
}
const unit = (i: number, generation: number) => ({
  id: `bench-${i}-local`,
  deploymentKey: `bench-${i}`,
  packageName: `bench${i}`,
  packageVersion: "1.0.0",
  cluster: "local",
  cls: { key: "Noop", bindings: [{ name: "noop", function: "Noop.fn", stateless: true }] },
  functions: [{ key: "Noop.fn", provision: { command: [process.execPath, join(root, "bench/crm/fn.ts")] } }],
  generation: String(generation),
})
const availableAt = (u: any): number | undefined => {
  const c = u.status?.conditions?.find((x: any) => x.type === "Available" && x.status === "CONDITION_STATUS_TRUE")
  return c === undefined ? undefined : Date.parse(c.lastTransitionTime)
}
try {
  // 1. apply -> Available, `inflight` applies at a time (each waits for its unit's first pass).
  const applied = new Map<string, number>()
  let next = 0
  const applier = async () => {
    while (next < units) {
      const i = next++
      applied.set(`bench-${i}-local`, Date.now())
      await call("ApplyDeploymentUnit", { unit: unit(i, 1) })
    }
  }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: inflight }, applier))
  let list: any
  for (;;) {
    list = await call("ListDeploymentUnits", {})
    if (list.units.length === units && list.units.every((u: any) => availableAt(u) !== undefined)) break
    if (performance.now() - t0 > 120_000) throw new Error("not all units Available within 120 s")
    await Bun.sleep(100)
  }
  const total = performance.now() - t0
  const raw: Array<number> = []
  const startup: Array<number> = []
  const overhead: Array<number> = []
  for (const u of list.units) {
    const id = u.unit.id as string
    const line = readFileSync(join(logDir, id, "Noop.fn-0.stdout.log"), "utf8").split("\n").find((l) =>
      l.startsWith("started")
    )!
    const [, started, , listening] = line.split(" ")
    const a = availableAt(u)! - applied.get(id)!
    const s = Number(listening) - Number(started)
    raw.push(a)
    startup.push(s)
    overhead.push(a - s)
  }
  console.log(`units: ${units} (${inflight} applies in flight), all Available after ${(total / 1000).toFixed(1)} s`)
  console.log(`apply -> Available: p50 ${percentile(raw, 50)} ms, p95 ${percentile(raw, 95)} ms`)
  console.log(
    `function start (process start -> listening): p50 ${percentile(startup, 50).toFixed(0)} ms, p95 ${
      percentile(startup, 95).toFixed(0)
    } ms`,
  )
  console.log(
    `apply -> Available excluding function start: p50 ${percentile(overhead, 50).toFixed(0)} ms, p95 ${
      percentile(overhead, 95).toFixed(0)
    } ms`,
  )

  // 2. reconcile throughput: a new generation of every unit, same spec.
  const t1 = performance.now()
  await Promise.all(Array.from({ length: units }, (_, i) => call("ApplyDeploymentUnit", { unit: unit(i, 2) })))
  for (;;) {
    list = await call("ListDeploymentUnits", {})
    if (
      list.units.every((u: any) =>
        u.status.observedGeneration === "2" && availableAt(u) !== undefined &&
        u.status.phase === "DEPLOYMENT_PHASE_RUNNING"
      )
    ) break
    await Bun.sleep(20)
  }
  const secs = (performance.now() - t1) / 1000
  console.log(
    `reconcile throughput: ${units} units to generation 2 in ${secs.toFixed(2)} s = ${
      (units / secs).toFixed(0)
    } units/s (same spec, no restarts)`,
  )

  // 3. idle CPU of the CRM.
  await Bun.sleep(1000)
  const c0 = cpuMs(crm.pid)
  await Bun.sleep(idleSeconds * 1000)
  const used = (cpuMs(crm.pid) - c0) / 1000
  console.log(
    `idle CPU of the CRM holding ${units} units: ${
      ((used / idleSeconds) * 100).toFixed(1)
    }% of one core over ${idleSeconds} s`,
  )
} finally {
  await Promise.all(
    Array.from(
      { length: units },
      (_, i) => call("DeleteDeploymentUnit", { unitId: `bench-${i}-local` }).catch(() => undefined),
    ),
  )
  await crm.stop()
  await odgm.stop()
  removeTempDir(dir)
}
