import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { Effect, Layer, ManagedRuntime, Schema } from "effect"
import { type PrometheusServer, startPrometheus, waitFor } from "@oprc/test-harness"
import { NfrConfig, NfrController, NfrTarget, Prometheus, SD_PATH, sdLabels, type TargetGroup } from "../src/nfr"
import { load, makeWorkload, spawnOdgm, startSdServer, type WorkloadOptions } from "./nfr-support/world"

// The NFR loop against a real Prometheus that finds its targets through the CRM's HTTP SD
// endpoint, scraping real function processes (nfr-support/worker.ts: one call at a time, 10 ms
// each, so one replica serves at most ~100 calls/s) and a real ODGM process in front of them.

const WORK_MS = 10

const config = (prometheusUrl: string) =>
  Schema.decodeUnknownSync(NfrConfig)({
    prometheusUrl,
    intervalMs: 1000,
    rateWindowMs: 5000,
    stabilityMs: 3000,
    cooldownMs: 8000,
    // Deliberately low: capacity is learned from what a replica really serves.
    defaultReplicaCapacityRps: 40,
  })

let odgm: Awaited<ReturnType<typeof spawnOdgm>>
let prometheus: PrometheusServer
let sd: Awaited<ReturnType<typeof startSdServer>>
let world: ReturnType<typeof makeWorkload> | undefined
// The SD endpoint serves whichever workload the running test set up.
let current: NfrTarget["Service"] | undefined

const setWorld = async (opts: WorkloadOptions, replicas: number) => {
  await world?.stop()
  world = makeWorkload(odgm.url, opts)
  current = world.impl
  await world.scaleTo(replicas)
  return world
}

beforeAll(async () => {
  odgm = await spawnOdgm()
  // A delegating target, so one SD server and one Prometheus serve every test.
  const delegating = Layer.succeed(NfrTarget)({
    workloads: Effect.suspend(() => current?.workloads ?? Effect.succeed([])),
    odgmUrls: Effect.succeed([odgm.url]),
    scale: () => Effect.die("the SD server never scales"),
    report: () => Effect.void,
  })
  sd = await startSdServer(delegating)
  prometheus = await startPrometheus({ targets: [], httpSd: { url: `${sd.url}${SD_PATH}`, refreshIntervalMs: 1000 } })
}, 60_000)

afterAll(async () => {
  await world?.stop()
  await prometheus?.stop()
  await sd?.stop()
  await odgm?.proc.stop(5000)
})

const controllerRuntime = (url: string, loop: boolean) => {
  if (!world) throw new Error("no world")
  const cfg = config(url)
  const controller = NfrController.layer(cfg).pipe(Layer.provide(Layer.merge(world.target, Prometheus.layer(url, cfg.queryTimeoutMs))))
  return ManagedRuntime.make(loop ? NfrController.layerLoop(cfg).pipe(Layer.provideMerge(controller)) : controller)
}

const analyzeOnce = Effect.gen(function* () {
  return yield* (yield* NfrController).analyze
})

describe("NFR with a real Prometheus", () => {
  test("the Prometheus client: vectors and scalars as samples, a bad query as PrometheusQueryError naming it", async () => {
    const client = Prometheus.make(prometheus.url, 5000)
    const scalar = await Effect.runPromise(client.query("scalar(vector(42))"))
    expect(scalar).toEqual([{ labels: {}, value: 42 }])
    const vector = await Effect.runPromise(client.query(`label_replace(vector(1), "oprc_unit", "u1", "", "")`))
    expect(vector).toEqual([{ labels: { oprc_unit: "u1" }, value: 1 }])
    // A quantile over no requests is NaN: no sample rather than a number that means nothing.
    expect(await Effect.runPromise(client.query("scalar(vector(0) / 0)"))).toEqual([])
    const bad = await Effect.runPromise(Effect.flip(client.query("sum(")))
    expect(bad._tag).toBe("PrometheusQueryError")
    expect(bad.message).toContain("Prometheus rejected sum(")
  })

  test("the SD endpoint lists every replica and the ODGM, and Prometheus scrapes them with the labels", async () => {
    const w = await setWorld({ unitId: "nfr-sd", enforcement: "OBSERVE", nfr: {}, minScale: 1, maxScale: 3, workMs: WORK_MS }, 2)
    const groups = (await (await fetch(`${sd.url}${SD_PATH}`)).json()) as ReadonlyArray<TargetGroup>
    const fnGroup = groups.find((g) => g.labels[sdLabels.component] === "function")!
    expect(fnGroup.labels).toEqual({
      oprc_component: "function", oprc_deployment: "nfr", oprc_unit: "nfr-sd", oprc_class: "nfr.Worker", oprc_function: "Worker.fn",
    })
    expect([...fnGroup.targets].sort()).toEqual(w.replicas.map((r) => r.url.replace("http://", "")).sort())
    expect(groups.find((g) => g.labels[sdLabels.component] === "odgm")?.targets).toEqual([odgm.url.replace("http://", "")])

    // Both replicas' process metrics arrive with the unit's labels (discovery, then scrapes).
    const series = await prometheus.waitForQuery(
      `process_resident_memory_bytes{oprc_unit="nfr-sd",oprc_function="Worker.fn"}`,
      (s) => s.length === 2,
      30_000,
    )
    expect(series.every((s) => s.value > 1_000_000)).toBe(true)
    await prometheus.waitForQuery(`up{oprc_component="odgm"}`, (s) => s.length === 1 && s[0]!.value === 1, 30_000)
  }, 60_000)

  test("observe mode reports rps, p99, errors, CPU and memory and a recommendation, and changes nothing", async () => {
    const w = await setWorld(
      { unitId: "nfr-observe", enforcement: "OBSERVE", nfr: { minThroughputRps: 150, maxLatencyP99Ms: 500 }, minScale: 1, maxScale: 3, workMs: WORK_MS },
      1,
    )
    const runtime = controllerRuntime(prometheus.url, false)
    try {
      const loadRun = load(odgm.url, 4, 12_000)
      const report = await waitFor("an observation with traffic", async () => {
        const reports = await runtime.runPromise(analyzeOnce)
        const fn = reports[0]?.functions[0]
        // Wait out the ramp-up: a rate over a window the load has not filled yet is too low.
        return fn && (fn.observation.rps ?? 0) > 0.5 * (1000 / WORK_MS) ? reports[0] : undefined
      }, { timeoutMs: 25_000, intervalMs: 1000 })
      const fn = report!.functions[0]!
      expect(report!.condition).toMatchObject({ type: "NfrObserved", status: "True", reason: "Recommending" })
      expect(fn.observation.p99Ms).toBeGreaterThan(WORK_MS)
      expect(fn.observation.errorRate).toBe(0)
      expect(fn.observation.cpuCores).toBeGreaterThan(0)
      expect(fn.observation.memoryBytes).toBeGreaterThan(1_000_000)
      // At most ~100 calls/s is what one replica does; the 150 rps NFR needs 150 / capacity.
      expect(fn.observation.rps!).toBeLessThan(1000 / WORK_MS + 5)
      expect(fn.capacityRps).toBeGreaterThanOrEqual(fn.observation.rps! - 0.01)
      expect(fn.recommendedReplicas).toBe(Math.min(3, Math.ceil(150 / fn.capacityRps)))
      expect(fn.recommendedReplicas).toBeGreaterThanOrEqual(2)
      expect(report!.condition.message).toMatch(/function Worker\.fn: [\d.]+ rps, p99 [\d.]+ ms, errors 0%, cpu [\d.]+ cores, memory \d+ MiB; recommend [23] replicas/)
      const result = await loadRun
      expect(result.failed).toBe(0)
      expect(w.replicas.length).toBe(1)
      expect(w.scaleCalls).toEqual([])
    } finally {
      await runtime.dispose()
    }
  }, 60_000)

  test("enforce mode scales out when one replica cannot meet the throughput NFR, never past maxScale, and back in after the cooldown", async () => {
    const cfg = config(prometheus.url)
    const w = await setWorld(
      { unitId: "nfr-enforce", enforcement: "ENFORCE", nfr: { minThroughputRps: 250, maxLatencyP99Ms: 1000 }, minScale: 1, maxScale: 2, workMs: WORK_MS },
      1,
    )
    const runtime = controllerRuntime(prometheus.url, true)
    try {
      await runtime.runPromise(Effect.void) // starts the background loop
      const started = Date.now()
      const stopLoad = new AbortController()
      const loadRun = load(odgm.url, 6, 60_000, undefined, stopLoad.signal)
      // The first pass that sees the shortfall, then the scale-out.
      const violation = await waitFor("a pass recommending more replicas", async () =>
        w.reports.find((r) => (r.functions[0]?.recommendedReplicas ?? 0) > 1), { timeoutMs: 45_000, intervalMs: 100 })
      const violationAt = Date.now()
      await waitFor("scale-out", async () => (w.scaleCalls[0]?.doneAt !== undefined ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 })
      const out = w.scaleCalls[0]!
      // 2, not the 3 that 250 rps would need: maxScale is 2.
      expect(out.replicas).toBe(2)
      expect(violation.functions[0]!.reason).toContain("below the 250 rps NFR")
      expect(w.reports.some((r) => r.functions[0]!.reason.includes("bounded by maxScale 2"))).toBe(true)
      // Within interval + stability window (+ slack for a loaded machine).
      expect(out.at - violationAt).toBeLessThan(cfg.intervalMs + cfg.stabilityMs + 4000)
      expect(w.replicas.length).toBe(2)
      // Both replicas take calls through ODGM while the load lasts.
      const spread = await load(odgm.url, 4, 3000)
      stopLoad.abort()
      const servedBy = await loadRun
      expect(servedBy.failed + spread.failed).toBe(0)
      const shares = [...spread.pids.values()].sort((a, b) => a - b)
      expect(shares.length).toBe(2)
      expect(shares[0]!).toBeGreaterThan(0.25 * spread.ok)
      const loadStopped = Date.now()

      // No traffic: back to minScale once the cooldown after the scale-out has passed.
      await waitFor("scale-in", async () => (w.scaleCalls[1]?.doneAt !== undefined ? true : undefined), { timeoutMs: 40_000, intervalMs: 200 })
      const back = w.scaleCalls[1]!
      expect(back.replicas).toBe(1)
      expect(back.at - out.at).toBeGreaterThanOrEqual(cfg.cooldownMs)
      expect(back.at).toBeGreaterThan(loadStopped)
      expect(w.replicas.length).toBe(1)
      // Nothing more while idle at the lower bound.
      await Bun.sleep(3000)
      expect(w.scaleCalls.map((c) => c.replicas)).toEqual([2, 1])
      expect(w.reports.at(-1)!.condition.status).toBe("True")
      console.log(`NFR enforce: violation seen ${violationAt - started} ms after load start, scale-out ${out.at - violationAt} ms later, new replica serving ${out.doneAt! - violationAt} ms after the violation; scale-in ${back.at - loadStopped} ms after the load stopped; calls by pid ${JSON.stringify([...servedBy.pids])}`)
    } finally {
      await runtime.dispose()
    }
  }, 120_000)
})
