import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import {
  diedWith, ensurePythonModules, type EtcdServer, freePorts, makeTempDir, type NatsServer, type OtlpReceiver, pidsOfUnit, type PrometheusServer, removeTempDir,
  type ServerProcess, spawnServer, startEtcd, startNats, startOtlpReceiver, startPrometheus, waitFor, waitForHttp,
} from "../harness/index.ts"
import { ancestry, binaryDir, call, ok, repoRoot, tallyPackage, waitForTrace } from "./support"

// The whole platform as separately started compiled binaries: the PM on etcd, two clusters
// (east, west), each a CRM with the process driver and its own ODGM on its own NATS JetStream
// (an ODGM grid stores its collections in NATS, and each CRM owns the collections of its cluster),
// each CRM's replicas and ODGM scraped by a real Prometheus through that CRM's SD endpoint.
const CLUSTERS = ["east", "west"] as const
type Cluster = (typeof CLUSTERS)[number]
const dir = makeTempDir("e2e-distributed")
const otlp: OtlpReceiver = startOtlpReceiver()
let etcd: EtcdServer
const nats: Array<NatsServer> = []
const proms: Array<PrometheusServer> = []
const procs: Array<ServerProcess> = []
let PM: string
const ODGM: Record<Cluster, string> = { east: "", west: "" }
const UNITS = ["counter-e2e", "tally-e2e", "pycounter-e2e"].flatMap((d) => CLUSTERS.map((c) => `${d}-${c}`))

const start = (name: string, cmd: Array<string>, port: number, env: Record<string, string> = {}) => {
  const p = spawnServer({ name, cmd, cwd: repoRoot, ports: [port], env: { OPRC_TELEMETRY_OTLP_ENDPOINT: otlp.url, OPRC_TELEMETRY_LOG_LEVEL: "warn", ...env }, logFile: join(dir, `${name}.log`) })
  procs.push(p)
  return p
}

beforeAll(async () => {
  const [bin] = await Promise.all([binaryDir(), ensurePythonModules()])
  const [pmPort, ...ports] = await freePorts(5)
  const [e, n1, n2] = await Promise.all([startEtcd(), startNats(), startNats()])
  etcd = e
  nats.push(n1, n2)
  const waits: Array<Promise<void>> = []
  for (const [i, cluster] of CLUSTERS.entries()) {
    const [crmPort, odgmPort] = [ports[2 * i]!, ports[2 * i + 1]!]
    ODGM[cluster] = `http://127.0.0.1:${odgmPort}`
    const prom = await startPrometheus({ targets: [], scrapeIntervalMs: 1000, httpSd: { url: `http://127.0.0.1:${crmPort}/api/v1/sd/targets`, refreshIntervalMs: 1000 } })
    proms.push(prom)
    const odgm = start(`odgm-${cluster}`, [join(bin, "oprc-odgm"), "--host", "127.0.0.1", "--port", String(odgmPort), "--storage", "nats", "--nats", nats[i]!.url], odgmPort, { OPRC_TRIGGERS_POLL_INTERVAL_MS: "50" })
    const crm = start(`crm-${cluster}`, [join(bin, "oprc-crm"), "--host", "127.0.0.1", "--port", String(crmPort), "--cluster", cluster, "--odgm-url", ODGM[cluster], "--sqlite-path", join(dir, `crm-${cluster}.sqlite`), "--prometheus-url", prom.url], crmPort, {
      OPRC_DRIVER_PROCESS_LOG_DIR: join(dir, `logs-${cluster}`),
      OPRC_DRIVER_PROCESS_WORK_DIR: repoRoot,
      OPRC_DRIVER_PROCESS_STOP_GRACE_MS: "1000",
      OPRC_RECONCILE_RESYNC_MS: "1000",
      OPRC_NFR_INTERVAL_MS: "1000",
      OPRC_NFR_RATE_WINDOW_MS: "3000",
    })
    waits.push(waitForHttp(`${ODGM[cluster]}/readyz`, (s) => s === 200, 30_000, { abortIf: diedWith(odgm) }))
    waits.push(waitForHttp(`http://127.0.0.1:${crmPort}/readyz`, (s) => s === 200, 30_000, { abortIf: diedWith(crm) }))
  }
  writeFileSync(join(dir, "pm.yaml"), [
    "storage:",
    "  kind: etcd",
    `  etcd: {endpoints: ["${etcd.endpoints[0]}"], prefix: /e2e/pm}`,
    "clusters:",
    ...CLUSTERS.map((c, i) => `  - {name: ${c}, url: "http://127.0.0.1:${ports[2 * i]}"}`),
    "orchestration: {resyncMs: 1000, healthIntervalMs: 300}",
    "",
  ].join("\n"))
  const pm = start("pm", [join(bin, "oprc-pm"), "--config", join(dir, "pm.yaml"), "--host", "127.0.0.1", "--port", String(pmPort)], pmPort!)
  PM = `http://127.0.0.1:${pmPort}`
  waits.push(waitForHttp(`${PM}/readyz`, (s) => s === 200, 30_000, { abortIf: diedWith(pm) }))
  await Promise.all(waits)
}, 120_000)

afterAll(async () => {
  await Promise.allSettled(procs.map((p) => p.stop(3000)))
  // Replicas outlive a CRM on purpose (adoption); never leave any behind on a shared machine.
  for (const unit of UNITS) for (const pid of pidsOfUnit(unit)) process.kill(-pid, "SIGKILL")
  await Promise.allSettled([...proms.map((p) => p.stop()), ...nats.map((n) => n.stop()), etcd?.stop(), otlp.stop()])
  removeTempDir(dir)
})

const deployment = (key: string, packageName: string, extra: Record<string, unknown> = {}) => ({
  key, packageName, classKey: packageName === "tally" ? "Tally" : "Counter", targetClusters: [...CLUSTERS], odgm: { partitionCount: 2 }, ...extra,
})
const running = (key: string) => ok("GET", `${PM}/api/v1/deployments/${key}?waitFor=Running&timeoutMs=40000`)
const invoke = (cluster: Cluster, cls: string, id: string, fn: string, body: unknown = {}, headers: Record<string, string> = {}) =>
  call("POST", `${ODGM[cluster]}/api/class/${cls}/-/objects/${id}/invokes/${fn}?timeoutMs=5000`, body, headers)

describe("PM on etcd, two CRMs, two ODGMs on NATS, as compiled binaries", () => {
  test("packages with a dependency deploy to both clusters and reach Running there", async () => {
    // The dependent first is refused: its dependency does not exist yet.
    const early = await call("POST", `${PM}/api/v1/packages`, tallyPackage())
    expect(early.status).toBe(400)
    expect(JSON.stringify(early.body)).toContain("dependencies[0].name")
    await ok("POST", `${PM}/api/v1/packages`, await Bun.file(join(repoRoot, "examples/counter/package.yaml")).text())
    await ok("POST", `${PM}/api/v1/packages`, tallyPackage())
    await ok("POST", `${PM}/api/v1/deployments`, deployment("counter-e2e", "counter", { enforcement: "OBSERVE", nfr: { minThroughputRps: 1, maxLatencyP99Ms: 2000 } }))
    await ok("POST", `${PM}/api/v1/deployments`, deployment("tally-e2e", "tally"))
    for (const key of ["counter-e2e", "tally-e2e"]) {
      const dep = await running(key)
      expect(dep.status.phase).toBe("Running")
      expect(dep.status.clusters.map((c: { cluster: string; phase: string }) => [c.cluster, c.phase]).sort()).toEqual([["east", "Running"], ["west", "Running"]])
    }
    for (const unit of ["counter-e2e-east", "counter-e2e-west", "tally-e2e-east", "tally-e2e-west"]) expect(pidsOfUnit(unit).length, unit).toBe(1)
  }, 90_000)

  test("objects: put/get, sync and async invocations (GetResult), on each cluster's grid", async () => {
    for (const cluster of CLUSTERS) {
      const put = await call("PUT", `${ODGM[cluster]}/api/class/counter.Counter/-/objects/c1`, { entries: { count: 10 } })
      expect(put.status).toBeLessThan(300)
      expect((await ok("GET", `${ODGM[cluster]}/api/class/counter.Counter/-/objects/c1`)).entries).toEqual({ count: 10 })
      expect(await invoke(cluster, "counter.Counter", "c1", "increment", { by: 5 })).toEqual({ status: 200, body: { count: 15 } })
      const accepted = await call("POST", `${ODGM[cluster]}/api/class/counter.Counter/-/objects/c1/invokes/increment?async=true`, { by: 1 })
      expect(accepted.status).toBe(202)
      const id = accepted.body.invocationId as string
      expect(id).toBeTruthy()
      const result = await ok("GET", `${ODGM[cluster]}/api/invocations/${id}?waitMs=10000`)
      expect(result).toMatchObject({ state: "DONE", status: "OK", output: { count: 16 } })
    }
    // The two clusters' grids are separate: nothing written on east shows on west.
    expect((await call("GET", `${ODGM.west}/api/class/counter.Counter/-/objects/only-east`)).status).toBe(404)
  }, 60_000)

  test("a trigger crosses classes (and packages): each tally increment increments counter object total", async () => {
    for (const cluster of CLUSTERS) {
      for (let i = 0; i < 3; i++) expect((await invoke(cluster, "tally.Tally", "t1", "increment")).status).toBe(200)
      const total = await waitFor(`${cluster}: total reaches 3`, async () => {
        const r = await call("GET", `${ODGM[cluster]}/api/class/counter.Counter/-/objects/total`)
        return r.status === 200 && r.body.entries.count === 3 ? r.body : undefined
      }, { timeoutMs: 15_000, intervalMs: 100 })
      expect(total.entries).toEqual({ count: 3 })
    }
  }, 40_000)

  test("NFR observe mode: Prometheus (found through the CRM's SD endpoint) measures, the PM shows the numbers", async () => {
    let stop = false
    const load = (async () => {
      while (!stop) await Promise.all(CLUSTERS.map((c) => invoke(c, "counter.Counter", "load", "increment")))
    })()
    try {
      const dep = await waitFor("counter-e2e reports observed rps on both clusters", async () => {
        const d = await ok("GET", `${PM}/api/v1/deployments/counter-e2e`)
        const measured = d.status.clusters.filter((c: { nfr?: { observedRps: number } }) => (c.nfr?.observedRps ?? 0) > 0)
        return measured.length === CLUSTERS.length ? d : undefined
      }, { timeoutMs: 40_000, intervalMs: 500 })
      for (const c of dep.status.clusters) {
        expect(c.nfr.observedP99Ms).toBeGreaterThan(0)
        expect(c.nfr.recommendedReplicas).toBeGreaterThanOrEqual(1)
      }
      // Observe mode changes nothing: still one replica each.
      for (const cluster of CLUSTERS) expect(pidsOfUnit(`counter-e2e-${cluster}`).length).toBe(1)
      for (const prom of proms) expect((await prom.targets()).some((t) => t.health === "up"), "an SD target is scraped").toBe(true)
    } finally {
      stop = true
      await load
    }
  }, 60_000)

  test("one deploy is one trace: PM -> CRM -> ODGM", async () => {
    // As services/crm/test/binaries.test.ts checks for one cluster: here the Python counter's
    // deployment, created with the caller's traceparent, through the PM's pass and east's CRM into east's ODGM.
    await ok("POST", `${PM}/api/v1/packages`, await Bun.file(join(repoRoot, "examples/python-counter/package.yaml")).text())
    const traceId = crypto.randomUUID().replaceAll("-", "")
    await ok("POST", `${PM}/api/v1/deployments`, deployment("pycounter-e2e", "pycounter", { targetClusters: ["east"] }), { traceparent: `00-${traceId}-00f067aa0ba902b7-01` })
    expect((await running("pycounter-e2e")).status.phase).toBe("Running")
    const trace = await waitForTrace(otlp.spans, traceId, ["oprc-pm", "oprc-crm", "oprc-odgm"])
    // ODGM's server span of ApplyCollection hangs under the CRM's call, which hangs under the PM's pass.
    const applied = trace.find((s) => s.resource["service.name"] === "oprc-odgm" && s.kind === 2 && s.name.includes("ApplyCollection"))
    expect(applied, trace.map((s) => `${s.resource["service.name"]}: ${s.name}`).join("; ")).toBeDefined()
    expect(ancestry(trace, applied!)).toEqual(["oprc-odgm", "oprc-crm", "oprc-pm"])
  }, 60_000)

  test("one invocation is one trace: gateway -> ODGM -> the TypeScript and the Python function", async () => {
    for (const [cls, fnService] of [["counter.Counter", "counter.Counter/Counter.fn"], ["pycounter.Counter", "pycounter.Counter/Counter.py"]] as const) {
      const traceId = crypto.randomUUID().replaceAll("-", "")
      expect((await invoke("east", cls, "traced", "increment", {}, { traceparent: `00-${traceId}-00f067aa0ba902b7-01` })).status).toBe(200)
      const trace = await waitForTrace(otlp.spans, traceId, ["oprc-odgm", fnService])
      const fnSpan = trace.find((s) => s.resource["service.name"] === fnService && s.kind === 2)!
      expect(fnSpan, `${fnService} has a server span`).toBeDefined()
      // The function's span hangs under ODGM's, which hangs under the caller's span (not exported here).
      expect(ancestry(trace, fnSpan)).toEqual([fnService, "oprc-odgm"])
      const root = trace.find((s) => s.resource["service.name"] === "oprc-odgm" && s.parentSpanId === "00f067aa0ba902b7")
      expect(root, "ODGM's server span continues the caller's traceparent").toBeDefined()
    }
  }, 60_000)

  test("delete the deployments and the packages: no function process, no collection, no unit is left", async () => {
    for (const key of ["tally-e2e", "counter-e2e", "pycounter-e2e"]) expect((await call("DELETE", `${PM}/api/v1/deployments/${key}`)).status).toBeLessThan(300)
    for (const key of ["tally-e2e", "counter-e2e", "pycounter-e2e"]) {
      await waitFor(`${key} gone`, async () => ((await call("GET", `${PM}/api/v1/deployments/${key}`)).status === 404 ? true : undefined), { timeoutMs: 30_000, intervalMs: 200 })
    }
    // The dependency cannot go before its dependent.
    expect((await call("DELETE", `${PM}/api/v1/packages/counter`)).status).toBe(409)
    for (const name of ["tally", "counter", "pycounter"]) expect((await call("DELETE", `${PM}/api/v1/packages/${name}`)).status).toBeLessThan(300)
    expect((await ok("GET", `${PM}/api/v1/packages`)).items).toEqual([])
    await waitFor("every function process gone", async () => (UNITS.every((u) => pidsOfUnit(u).length === 0) ? true : undefined), { timeoutMs: 15_000, intervalMs: 100 })
    for (const cluster of CLUSTERS) {
      const crm = `http://127.0.0.1:${procs.find((p) => p.name === `crm-${cluster}`)!.ports[0]}`
      const units = await ok("POST", `${crm}/oprc.crm.v1.RuntimeService/ListDeploymentUnits`, {})
      expect(units.units ?? [], `${cluster} units`).toEqual([])
      const collections = await ok("GET", `${ODGM[cluster]}/api/collections`)
      expect(collections.collections, `${cluster} collections`).toEqual([])
    }
  }, 90_000)
})
