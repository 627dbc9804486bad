// bench/crm/nfr-scale-out: how long a scale-out takes from the NFR violation to the new replica
// serving, through the whole loop: a CRM (process driver) runs a worker function (one call at a
// time, 10 ms each, so ~100 calls/s per replica) whose deployment asks for 250 rps; a real
// Prometheus discovers the replicas from the CRM's /api/v1/sd/targets and scrapes every second;
// a closed-loop load generator (6 callers through ODGM) starts at t0.
//
// Reported per run (ms after t0): the first NfrObserved that recommends more replicas (detection:
// discovery + scrapes + the rate window), the driver's scale-out (+ stability window), the new
// replica ready and registered with ODGM, and the first call answered by the new process.
// Settings: interval 1 s, rate window 5 s, stability 3 s (the defaults are 15 s / 60 s / 45 s).
// Usage: bun bench/crm/nfr-scale-out.ts [runs]
import { Effect, Layer, References, Schema } from "effect"
import { decodeDeploymentUnit, deploymentUnitToProto } from "@oprc/models"
import { OdgmApp, OdgmConfig } from "@oprc/odgm"
import { crmv1 } from "@oprc/proto"
import { makeClient, startServer } from "@oprc/rpc"
import { freePort, makeTempDir, removeTempDir, startPrometheus } from "@oprc/test-harness"
import { CrmApp, CrmConfig } from "@oprc/crm"

const runs = Number(process.argv[2] ?? 3)
const root = new URL("../../", import.meta.url).pathname
const quiet = Layer.succeed(References.MinimumLogLevel, "Error")
const nfr = { intervalMs: 1000, rateWindowMs: 5000, stabilityMs: 3000, cooldownMs: 8000, defaultReplicaCapacityRps: 40 }

const odgmConfig = Schema.decodeUnknownSync(OdgmConfig)({
  server: { host: "127.0.0.1", port: 8081, shutdownGraceMs: 200 },
  storage: { kind: "memory" },
  collections: { refreshMs: 200 },
})
const odgm = await startServer(
  OdgmApp({ ...odgmConfig, server: { ...odgmConfig.server, port: 0 } }).pipe(Layer.provide(quiet)),
)
const dir = makeTempDir("bench-nfr")
const crmPort = await freePort()
const prometheus = await startPrometheus({
  targets: [],
  httpSd: { url: `http://127.0.0.1:${crmPort}/api/v1/sd/targets`, refreshIntervalMs: 1000 },
})
const crm = await startServer(
  CrmApp(
    Schema.decodeUnknownSync(CrmConfig)({
      server: { host: "127.0.0.1", port: crmPort, shutdownGraceMs: 200 },
      storage: { kind: "memory" },
      odgm: { url: odgm.url },
      driver: { process: { workDir: root, logDir: `${dir}/logs`, stopGraceMs: 1000 } },
      reconcile: { resyncMs: 2000 },
      nfr: { prometheusUrl: prometheus.url, ...nfr },
    }),
  ).pipe(Layer.provide(quiet)),
)
const client = makeClient(crmv1.RuntimeService, { baseUrl: crm.url, timeoutMs: 10_000 })
const statusOf = async (unitId: string) => (await Effect.runPromise(client.getDeploymentUnit({ unitId }))).status!

const unit = (id: string) =>
  Effect.runSync(decodeDeploymentUnit({
    id,
    deploymentKey: id.replace(/-local$/, ""),
    packageName: "nfrbench",
    packageVersion: "1.0.0",
    cluster: "local",
    cls: { key: "Worker", bindings: [{ name: "work", function: "Worker.fn", stateless: true }] },
    functions: [{
      key: "Worker.fn",
      provision: { command: [process.execPath, "services/crm/test/nfr-support/worker.ts"], minScale: 1, maxScale: 2 },
      config: { WORK_MS: "10" },
    }],
    nfr: { minThroughputRps: 250, maxLatencyP99Ms: 1000 },
    enforcement: "ENFORCE",
    generation: 1,
  }))

const until = async <T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> => {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    const v = await check().catch(() => undefined)
    if (v !== undefined) return v
    await Bun.sleep(50)
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`)
}

interface Run {
  detect: number
  scaleOut: number
  ready: number
  newPidServed: number | undefined
}
const results: Array<Run> = []
for (let i = 0; i < runs; i++) {
  const u = unit(`nfrbench${i}-local`)
  await Effect.runPromise(client.applyDeploymentUnit({ unit: deploymentUnitToProto(u) }))
  await until("Running", async () => ((await statusOf(u.id)).functions[0]?.readyReplicas === 1 ? true : undefined))
  const t0 = Date.now()
  let stop = false
  let firstPid: number | undefined
  let newPidServed: number | undefined
  const caller = async () => {
    while (!stop) {
      const res = await fetch(`${odgm.url}/api/class/nfrbench.Worker/0/invokes/work`, {
        method: "POST",
        body: "{}",
        headers: { "content-type": "application/json" },
        signal: AbortSignal.timeout(5000),
      }).catch(() => undefined)
      const pid = res?.ok ? ((await res.json()) as { pid: number }).pid : undefined
      if (pid !== undefined) {
        firstPid ??= pid
        if (pid !== firstPid && newPidServed === undefined) newPidServed = Date.now() - t0
      }
    }
  }
  const callers = Array.from({ length: 6 }, caller)
  let detect: number | undefined
  let scaleOut: number | undefined
  let ready: number | undefined
  await until("two ready replicas", async () => {
    const s = await statusOf(u.id)
    const now = Date.now() - t0
    if (detect === undefined && (s.recommendation?.replicas ?? 0) > 1) detect = now
    if (scaleOut === undefined && (s.functions[0]?.desiredReplicas ?? 0) > 1) scaleOut = now
    if (s.functions[0]?.readyReplicas === 2) ready = now
    return ready
  })
  await Bun.sleep(2000) // give ODGM's routing a moment to show the new process answering
  stop = true
  await Promise.all(callers)
  const run = { detect: detect ?? ready!, scaleOut: scaleOut ?? ready!, ready: ready!, newPidServed }
  results.push(run)
  console.log(`run ${i + 1}: ${JSON.stringify(run)}`)
  await Effect.runPromise(client.deleteDeploymentUnit({ unitId: u.id }))
}

const med = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const served = results.flatMap((r) => (r.newPidServed === undefined ? [] : [r.newPidServed - r.detect]))
console.log(
  `\nmedian over ${runs} runs (ms): load start -> violation seen ${med(results.map((r) => r.detect))}; ` +
    `violation -> scale-out ${med(results.map((r) => r.scaleOut - r.detect))}; violation -> new replica ready ${
      med(results.map((r) => r.ready - r.detect))
    }; ` +
    `violation -> first call served by it ${served.length > 0 ? med(served) : "n/a (ODGM did not route to it)"}`,
)

await crm.stop()
await prometheus.stop()
await odgm.stop()
removeTempDir(dir)
