import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import {
  diedWith,
  ensurePythonModules,
  type EtcdServer,
  freePorts,
  killReplicas,
  makeTempDir,
  type NatsServer,
  type OtlpReceiver,
  type PrometheusServer,
  type ReceivedSpan,
  removeTempDir,
  type ServerProcess,
  spawnServer,
  startEtcd,
  startNats,
  startOtlpReceiver,
  startPrometheus,
  waitForHttp,
} from "../harness/index.ts"
import {
  applyAndDeploy,
  crossClassTrigger,
  deployment,
  invoke,
  nfrObserved,
  objectsAndInvocations,
  type Platform,
  teardown,
  waitRunning,
} from "./flow"
import { ancestry, binaryDir, ok, repoRoot, waitForTrace } from "./support"

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
const CRM: Record<Cluster, string> = { east: "", west: "" }
const UNITS = ["counter-e2e", "tally-e2e", "pycounter-e2e"].flatMap((d) => CLUSTERS.map((c) => `${d}-${c}`))

const start = (name: string, cmd: Array<string>, port: number, env: Record<string, string> = {}) => {
  const p = spawnServer({
    name,
    cmd,
    cwd: repoRoot,
    ports: [port],
    env: { OPRC_TELEMETRY_OTLP_ENDPOINT: otlp.url, OPRC_TELEMETRY_LOG_LEVEL: "warn", ...env },
    logFile: join(dir, `${name}.log`),
  })
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
    CRM[cluster] = `http://127.0.0.1:${crmPort}`
    const prom = await startPrometheus({
      targets: [],
      scrapeIntervalMs: 1000,
      httpSd: { url: `http://127.0.0.1:${crmPort}/api/v1/sd/targets`, refreshIntervalMs: 1000 },
    })
    proms.push(prom)
    const odgm = start(
      `odgm-${cluster}`,
      [
        join(bin, "oprc-odgm"),
        "--host",
        "127.0.0.1",
        "--port",
        String(odgmPort),
        "--storage",
        "nats",
        "--nats",
        nats[i]!.url,
      ],
      odgmPort,
      { OPRC_TRIGGERS_POLL_INTERVAL_MS: "50" },
    )
    const crm = start(
      `crm-${cluster}`,
      [
        join(bin, "oprc-crm"),
        "--host",
        "127.0.0.1",
        "--port",
        String(crmPort),
        "--cluster",
        cluster,
        "--odgm-url",
        ODGM[cluster],
        "--sqlite-path",
        join(dir, `crm-${cluster}.sqlite`),
        "--prometheus-url",
        prom.url,
      ],
      crmPort,
      {
        OPRC_DRIVER_PROCESS_LOG_DIR: join(dir, `logs-${cluster}`),
        OPRC_DRIVER_PROCESS_WORK_DIR: repoRoot,
        OPRC_DRIVER_PROCESS_STOP_GRACE_MS: "1000",
        OPRC_RECONCILE_RESYNC_MS: "1000",
        OPRC_NFR_INTERVAL_MS: "1000",
        OPRC_NFR_RATE_WINDOW_MS: "3000",
      },
    )
    waits.push(waitForHttp(`${ODGM[cluster]}/readyz`, (s) => s === 200, 30_000, { abortIf: diedWith(odgm) }))
    waits.push(waitForHttp(`http://127.0.0.1:${crmPort}/readyz`, (s) => s === 200, 30_000, { abortIf: diedWith(crm) }))
  }
  writeFileSync(
    join(dir, "pm.yaml"),
    [
      "storage:",
      "  kind: etcd",
      `  etcd: {endpoints: ["${etcd.endpoints[0]}"], prefix: /e2e/pm}`,
      "clusters:",
      ...CLUSTERS.map((c, i) => `  - {name: ${c}, url: "http://127.0.0.1:${ports[2 * i]}"}`),
      "orchestration: {resyncMs: 1000, healthIntervalMs: 300}",
      "",
    ].join("\n"),
  )
  const pm = start("pm", [
    join(bin, "oprc-pm"),
    "--config",
    join(dir, "pm.yaml"),
    "--host",
    "127.0.0.1",
    "--port",
    String(pmPort),
  ], pmPort!)
  PM = `http://127.0.0.1:${pmPort}`
  waits.push(waitForHttp(`${PM}/readyz`, (s) => s === 200, 30_000, { abortIf: diedWith(pm) }))
  await Promise.all(waits)
}, 120_000)

afterAll(async () => {
  await Promise.allSettled(procs.map((p) => p.stop(3000)))
  // Replicas outlive a CRM on purpose (adoption); never leave any behind on a shared machine.
  killReplicas(UNITS)
  await Promise.allSettled([...proms.map((p) => p.stop()), ...nats.map((n) => n.stop()), etcd?.stop(), otlp.stop()])
  removeTempDir(dir)
})

const platform = (): Platform => ({ pm: PM, odgm: ODGM, crm: CRM })

describe("PM on etcd, two CRMs, two ODGMs on NATS, as compiled binaries", () => {
  test(
    "packages with a dependency deploy to both clusters and reach Running there",
    () => applyAndDeploy(platform()),
    90_000,
  )
  test(
    "objects: put/get, sync and async invocations (GetResult), on each cluster's grid",
    () => objectsAndInvocations(platform()),
    60_000,
  )
  test(
    "a trigger crosses classes (and packages): each tally increment increments counter object total",
    () => crossClassTrigger(platform()),
    40_000,
  )
  test(
    "NFR observe mode: Prometheus (found through each CRM's SD endpoint) measures, the PM shows the numbers",
    async () => {
      await nfrObserved(platform())
      for (const prom of proms) {
        expect(
          (await prom.targets()).some((t) => t.health === "up"),
          "an SD target is scraped",
        ).toBe(true)
      }
    },
    60_000,
  )

  test("one deploy is one trace: PM -> both CRMs -> both ODGMs", async () => {
    // services/crm/test/binaries.test.ts checks this for one cluster; here the Python counter's
    // deployment, created with the caller's traceparent, is placed on both clusters: the PM's
    // passes, each CRM's pass and each ODGM's ApplyCollection are in the caller's trace.
    await ok(
      "POST",
      `${PM}/api/v1/packages`,
      await Bun.file(join(repoRoot, "examples/python-counter/package.yaml")).text(),
    )
    const traceId = crypto.randomUUID().replaceAll("-", "")
    await ok("POST", `${PM}/api/v1/deployments`, deployment(platform(), "pycounter-e2e", "pycounter"), {
      traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
    })
    expect((await waitRunning(platform(), "pycounter-e2e")).status.phase).toBe("Running")
    // The Python function answers on both clusters like the TypeScript one.
    for (const cluster of ["east", "west"]) {
      expect(await invoke(platform(), cluster, "pycounter.Counter", "py-1", "increment", { by: 2 })).toEqual({
        status: 200,
        body: { count: 2 },
      })
    }
    // Each ODGM's server span of ApplyCollection hangs under a CRM's call, under the PM's pass.
    const appliedIn = (t: ReadonlyArray<ReceivedSpan>) =>
      t.filter((s) =>
        s.resource["service.name"] === "oprc-odgm" && s.kind === 2 && s.name.includes("ApplyCollection") &&
        ancestry(t, s).length === 3
      )
    // Both clusters' CRMs took part: each reconciled its own unit in the trace (a pass's span ends,
    // and is exported, after the ODGM call inside it).
    const unitsIn = (t: ReadonlyArray<ReceivedSpan>) =>
      [...new Set(t.filter((s) => s.name === "ProcessDriver.reconcile").map((s) => s.attributes["oprc.unit"]))].sort()
    // The PM continues the caller's traceparent: its request span, which ends (and is exported)
    // after the passes it waited for, is part of what the wait requires.
    const continued = (t: ReadonlyArray<ReceivedSpan>) =>
      t.some((s) => s.resource["service.name"] === "oprc-pm" && s.parentSpanId === "00f067aa0ba902b7")
    const trace = await waitForTrace(
      otlp.spans,
      traceId,
      ["oprc-pm", "oprc-crm", "oprc-odgm"],
      (t) => appliedIn(t).length >= 2 && unitsIn(t).length >= 2 && continued(t),
    )
    for (const applied of appliedIn(trace)) {
      expect(ancestry(trace, applied)).toEqual(["oprc-odgm", "oprc-crm", "oprc-pm"])
    }
    expect(unitsIn(trace)).toEqual(["pycounter-e2e-east", "pycounter-e2e-west"])
  }, 60_000)

  test("one invocation is one trace: gateway -> ODGM -> the TypeScript and the Python function", async () => {
    for (
      const [cls, fnService] of [["counter.Counter", "counter.Counter/Counter.fn"], [
        "pycounter.Counter",
        "pycounter.Counter/Counter.py",
      ]] as const
    ) {
      const traceId = crypto.randomUUID().replaceAll("-", "")
      expect(
        (await invoke(platform(), "east", cls, "traced", "increment", {}, {
          traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
        })).status,
      ).toBe(200)
      // The function's server span hangs under ODGM's, which hangs under the caller's span (not exported here).
      const fnSpanIn = (t: ReadonlyArray<ReceivedSpan>) =>
        t.find((s) => s.resource["service.name"] === fnService && s.kind === 2)
      const rootIn = (t: ReadonlyArray<ReceivedSpan>) =>
        t.find((s) => s.resource["service.name"] === "oprc-odgm" && s.parentSpanId === "00f067aa0ba902b7")
      const trace = await waitForTrace(
        otlp.spans,
        traceId,
        ["oprc-odgm", fnService],
        // ODGM's server span continues the caller's traceparent; it ends (and is exported) after
        // the function's answer, so it is part of what the wait requires.
        (t) => fnSpanIn(t) !== undefined && ancestry(t, fnSpanIn(t)!).length === 2 && rootIn(t) !== undefined,
      )
      expect(ancestry(trace, fnSpanIn(trace)!)).toEqual([fnService, "oprc-odgm"])
    }
  }, 60_000)

  test(
    "delete the deployments and the packages: no function process, no collection, no unit is left",
    () => teardown(platform(), ["tally-e2e", "counter-e2e", "pycounter-e2e"], ["tally", "counter", "pycounter"]),
    90_000,
  )
})
