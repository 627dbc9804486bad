import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, test } from "bun:test"
import { Effect, Layer, Schema } from "effect"
import { TestClock } from "effect/testing"
import { type EnforcementMode, Nfr as NfrSchema } from "@oprc/models"
import { freePort, makeTempDir, removeTempDir } from "@oprc/test-harness"
import {
  NfrConfig,
  NfrController,
  NfrTarget,
  type NfrUnitReport,
  type NfrWorkload,
  Prometheus,
  promql,
  type Sample,
  ScaleFailed,
  sdLabels,
} from "../src/nfr"

// The decision loop over simulated time (TestClock): the NFR controller with an in-memory
// target (a full implementation of NfrTarget: scale changes the replica set) and a Prometheus
// whose series the test sets, answering exactly the controller's queries. The same loop
// against a real Prometheus and real processes is in nfr-prometheus.test.ts.

const config = Schema.decodeUnknownSync(NfrConfig)({
  prometheusUrl: "http://127.0.0.1:1",
  intervalMs: 1000,
  rateWindowMs: 2000,
  stabilityMs: 3000,
  cooldownMs: 10_000,
  defaultReplicaCapacityRps: 100,
})

interface Series {
  rps?: number
  p99Ms?: number
  /** Failed calls/s. */
  errors?: number
}

const makeWorld = (opts: {
  enforcement?: EnforcementMode
  nfr?: Partial<typeof NfrSchema.Type>
  replicas?: number
  minScale?: number
  maxScale?: number
  /** The driver refuses every scale call with this reason. */
  scaleFails?: string
}) => {
  let workload: NfrWorkload = {
    unitId: "shop-local",
    deploymentKey: "shop",
    generation: 3,
    cls: "shop.Cart",
    function: "Cart.fn",
    bindings: ["add"],
    nfr: Schema.decodeUnknownSync(NfrSchema)(opts.nfr ?? {}),
    enforcement: opts.enforcement ?? "ENFORCE",
    minScale: opts.minScale ?? 1,
    maxScale: opts.maxScale ?? 0,
    desiredReplicas: 0,
    replicas: [],
  }
  const setReplicas = (n: number) => {
    workload = {
      ...workload,
      desiredReplicas: n,
      replicas: Array.from(
        { length: n },
        (_, i) => ({ id: `r${i}`, url: `http://127.0.0.1:${9100 + i}`, ready: true }),
      ),
    }
  }
  setReplicas(opts.replicas ?? 1)
  const scaleCalls: Array<number> = []
  const reports: Array<NfrUnitReport> = []
  let series: Series = {}
  let queries = 0

  const target = Layer.succeed(NfrTarget)({
    workloads: Effect.sync(() => [workload]),
    odgmUrls: Effect.succeed(["http://127.0.0.1:8081"]),
    scale: (unitId, fn, n) => {
      scaleCalls.push(n)
      return opts.scaleFails === undefined
        ? Effect.sync(() => setReplicas(n))
        : Effect.fail(new ScaleFailed({ unitId, function: fn, replicas: n, reason: opts.scaleFails }))
    },
    report: (r) => Effect.sync(() => void reports.push(r)),
  })
  const q = promql(config.rateWindowMs)
  const labels = { [sdLabels.unit]: workload.unitId, [sdLabels.function]: workload.function }
  const one = (v: number | undefined): ReadonlyArray<Sample> => (v === undefined ? [] : [{ labels, value: v }])
  const prometheus = Layer.succeed(Prometheus)({
    url: "scripted",
    query: (text) =>
      Effect.sync(() => {
        queries++
        if (text === q.rps) return one(series.rps)
        if (text === q.p99) return one(series.p99Ms === undefined ? undefined : series.p99Ms / 1000)
        if (text === q.errors) return one(series.rps === undefined ? undefined : series.errors ?? 0)
        if (text === q.cpu) return one(0.25)
        if (text === q.memory) return one(64 * 1048576)
        return []
      }),
  })
  return {
    /** "scripted": the series set by the test; "none": no Prometheus configured; or a real client. */
    layer: (source: "scripted" | "none" | Layer.Layer<Prometheus> = "scripted", cfg: NfrConfig = config) => {
      const controller = NfrController.layer(cfg).pipe(Layer.provide(target))
      return Layer.mergeAll(
        source === "none" ? controller : controller.pipe(Layer.provide(source === "scripted" ? prometheus : source)),
        TestClock.layer(),
      )
    },
    set: (s: Series) => void (series = s),
    get replicas() {
      return workload.desiredReplicas
    },
    scaleCalls,
    reports,
    get queries() {
      return queries
    },
    lastCondition: () => reports.at(-1)!.condition,
    lastFunction: () => reports.at(-1)!.functions[0]!,
  }
}

type World = ReturnType<typeof makeWorld>

/** Runs `passes` analyses one interval apart (the first at t = 0), returning replicas after each. */
const passes = (w: World, n: number) =>
  Effect.gen(function*() {
    const controller = yield* NfrController
    const after: Array<number> = []
    for (let i = 0; i < n; i++) {
      if (i > 0) yield* TestClock.adjust(config.intervalMs)
      yield* controller.analyze
      after.push(w.replicas)
    }
    return after
  })

const run = <A, E>(w: World, effect: Effect.Effect<A, E, NfrController>, source?: Parameters<World["layer"]>[0]) =>
  Effect.runPromise(Effect.provide(effect, w.layer(source)))

describe("NFR decision loop (TestClock)", () => {
  test("scales out only after the same direction held for the stability window", async () => {
    const w = makeWorld({})
    w.set({ rps: 250 })
    // t = 0, 1, 2 s: pending; t = 3 s: the window (3 s) is over.
    expect(await run(w, passes(w, 5))).toEqual([1, 1, 1, 3, 3])
    expect(w.scaleCalls).toEqual([3])
    expect(w.reports[0]!.functions[0]!.reason).toContain("3 replicas if this holds 3 s more")
  })

  test("a pass at the current count restarts the stability window", async () => {
    const w = makeWorld({})
    const controller = Effect.gen(function*() {
      const c = yield* NfrController
      const out: Array<number> = []
      for (const rps of [250, 250, 50, 250, 250, 250, 250]) {
        w.set({ rps })
        yield* c.analyze
        out.push(w.replicas)
        yield* TestClock.adjust(config.intervalMs)
      }
      return out
    })
    // The dip to 50 rps at t = 2 s resets the clock: scaling waits until t = 3 + 3 s.
    expect(await run(w, controller)).toEqual([1, 1, 1, 1, 1, 1, 3])
  })

  test("while rates drift in one direction, the most conservative count is applied", async () => {
    const w = makeWorld({})
    const controller = Effect.gen(function*() {
      const c = yield* NfrController
      for (const rps of [450, 250, 350, 500]) {
        w.set({ rps })
        yield* c.analyze
        yield* TestClock.adjust(config.intervalMs)
      }
    })
    await run(w, controller)
    // 5, 3, 4, 5 recommended within the window: the smallest (3) is applied.
    expect(w.scaleCalls).toEqual([3])
  })

  test("scale-in waits for the cooldown after a change, and goes to the lower bound with no traffic", async () => {
    const w = makeWorld({})
    const program = Effect.gen(function*() {
      const c = yield* NfrController
      w.set({ rps: 250 })
      const out: Array<number> = []
      for (let t = 0; t <= 20; t++) {
        if (t === 5) w.set({ rps: 0 }) // load stops 2 s after the scale-out at t = 3
        yield* c.analyze
        out.push(w.replicas)
        yield* TestClock.adjust(config.intervalMs)
      }
      return out
    })
    const out = await run(w, program)
    expect(out[3]).toBe(3)
    // Stability would allow t = 8, but the cooldown runs until t = 3 + 10 s.
    expect(out.slice(3, 13)).toEqual(Array(10).fill(3))
    expect(out[13]).toBe(1)
    expect(w.scaleCalls).toEqual([3, 1])
    expect(w.reports[10]!.functions[0]!.reason).toContain("waits for the cooldown")
  })

  test("hysteresis: a rate between the scale-out and scale-in thresholds changes nothing", async () => {
    // 2 replicas at 130 rps: one could serve 100 rps, below 130; scale-in needs <= 70 rps per replica.
    const w = makeWorld({ replicas: 2 })
    w.set({ rps: 130 })
    expect(await run(w, passes(w, 8))).toEqual(Array(8).fill(2))
    expect(w.scaleCalls).toEqual([])
    const w1 = makeWorld({ replicas: 1 })
    w1.set({ rps: 95 })
    expect(await run(w1, passes(w1, 8))).toEqual(Array(8).fill(1))
    // Below 70 % of one replica's capacity it scales in.
    const w2 = makeWorld({ replicas: 2 })
    w2.set({ rps: 60 })
    expect((await run(w2, passes(w2, 5))).at(-1)).toBe(1)
  })

  test("never beyond maxScale or below minScale", async () => {
    const w = makeWorld({ maxScale: 2 })
    w.set({ rps: 5000 })
    expect((await run(w, passes(w, 10))).at(-1)).toBe(2)
    expect(w.lastFunction().reason).toContain("bounded by maxScale 2")
    const low = makeWorld({ minScale: 2, replicas: 3 })
    low.set({ rps: 0 })
    expect((await run(low, passes(low, 10))).at(-1)).toBe(2)
    expect(low.scaleCalls).toEqual([2])
  })

  test("p99 above the target scales out by one and learns the lower capacity", async () => {
    // 1 replica serving 40 rps at p99 300 ms against a 100 ms target: it cannot do 40 rps in time.
    const w = makeWorld({ nfr: { maxLatencyP99Ms: 100 } })
    w.set({ rps: 40, p99Ms: 300 })
    expect((await run(w, passes(w, 4))).at(-1)).toBe(2)
    expect(w.lastFunction().capacityRps).toBe(40)
    expect(w.reports[0]!.functions[0]!.reason).toContain("p99 300 ms is above the 100 ms target")
  })

  test("a throughput NFR scales out when saturated replicas serve less than it asks", async () => {
    // Capacity is learned at the latency target (180 rps per replica at p99 20 ms of 500 ms);
    // serving 180 of the 500 rps NFR while saturated needs ceil(500 / 180) = 3 replicas.
    const w = makeWorld({ nfr: { minThroughputRps: 500, maxLatencyP99Ms: 500 } })
    w.set({ rps: 180, p99Ms: 20 })
    expect((await run(w, passes(w, 4))).at(-1)).toBe(3)
    expect(w.reports[0]!.functions[0]!.reason).toContain("below the 500 rps NFR")
    // Light traffic under the same NFR is not a shortfall: nobody asks for more.
    const idle = makeWorld({ nfr: { minThroughputRps: 500, maxLatencyP99Ms: 500 } })
    idle.set({ rps: 20, p99Ms: 5 })
    expect((await run(idle, passes(idle, 6))).at(-1)).toBe(1)
  })

  test("after a scale-out, further scale-out waits until the metrics describe the new replica set", async () => {
    const w = makeWorld({})
    w.set({ rps: 250 })
    const out = await run(w, passes(w, 12))
    // 3 at t = 3; the rate stays at 250, now per 3 replicas: no further change.
    expect(out.at(-1)).toBe(3)
    const w2 = makeWorld({})
    const program = Effect.gen(function*() {
      const c = yield* NfrController
      const seen: Array<number> = []
      for (let t = 0; t < 12; t++) {
        w2.set({ rps: t < 3 ? 250 : 500 })
        yield* c.analyze
        seen.push(w2.replicas)
        yield* TestClock.adjust(config.intervalMs)
      }
      return seen
    })
    const seen = await run(w2, program)
    // Settle = rate window 2 s + interval 1 s after t = 3, then the 3 s window: 5 at t = 9.
    expect(seen.slice(3, 9)).toEqual(Array(6).fill(3))
    expect(seen[9]).toBe(5)
  })

  test("observe mode reports the numbers and the recommendation and never scales", async () => {
    const w = makeWorld({ enforcement: "OBSERVE", nfr: { maxLatencyP99Ms: 50 } })
    const program = Effect.gen(function*() {
      w.set({ rps: 300, p99Ms: 20 })
      yield* passes(w, 4)
      const within = { condition: w.lastCondition(), fn: w.lastFunction() }
      // The same rate, now over the p99 target: 2 replicas recommended, none started.
      w.set({ rps: 300, p99Ms: 90 })
      yield* passes(w, 8)
      return within
    })
    const within = await run(w, program)
    expect(within.condition).toMatchObject({
      type: "NfrObserved",
      status: "True",
      reason: "WithinTargets",
      observedGeneration: 3,
    })
    expect(within.condition.message).toContain("300 rps, p99 20 ms, errors 0%, cpu 0.3 cores, memory 64 MiB")
    // Capacity learned at 300 rps within the target: one replica is enough.
    expect(within.fn).toMatchObject({ recommendedReplicas: 1, desiredReplicas: 1, capacityRps: 300 })
    expect(w.lastCondition()).toMatchObject({ status: "True", reason: "Recommending" })
    expect(w.lastFunction()).toMatchObject({ recommendedReplicas: 2, desiredReplicas: 1 })
    expect(w.reports.some((r) => r.functions[0]!.reason.includes("would scale to 2 (observe mode)"))).toBe(true)
    expect(w.scaleCalls).toEqual([])
    expect(w.replicas).toBe(1)
  })

  test("mode off: no queries, NfrObserved False (Off)", async () => {
    const w = makeWorld({ enforcement: "OFF" })
    w.set({ rps: 1000 })
    await run(w, passes(w, 5))
    expect(w.queries).toBe(0)
    expect(w.lastCondition()).toMatchObject({ status: "False", reason: "Off" })
  })

  test("without a configured Prometheus, NfrObserved is Unknown with the reason", async () => {
    const w = makeWorld({})
    await run(w, passes(w, 2), "none")
    expect(w.lastCondition()).toMatchObject({ status: "Unknown", reason: "PrometheusNotConfigured" })
    expect(w.lastCondition().message).toContain("nfr.prometheusUrl")
    expect(w.scaleCalls).toEqual([])
  })

  test("Prometheus down (nothing listening): Unknown with the reason, replicas unchanged", async () => {
    const w = makeWorld({})
    const url = `http://127.0.0.1:${await freePort()}`
    w.set({ rps: 250 })
    // The real HTTP client, pointed at a closed port.
    await run(w, passes(w, 5), Prometheus.layer(url, 1000))
    const cond = w.lastCondition()
    expect(cond).toMatchObject({ status: "Unknown", reason: "PrometheusUnavailable" })
    expect(cond.message).toContain(`Prometheus at ${url} is unavailable`)
    expect(w.replicas).toBe(1)
  })

  test("the background loop runs one pass per interval", async () => {
    const w = makeWorld({})
    w.set({ rps: 250 })
    const looping = NfrController.layerLoop(config).pipe(Layer.provideMerge(w.layer()))
    const program = Effect.gen(function*() {
      yield* TestClock.adjust(config.intervalMs * 5)
      return w.reports.length
    })
    // Passes at t = 0..5 s; the third-second one scaled.
    expect(await Effect.runPromise(Effect.scoped(Effect.provide(program, looping)))).toBe(6)
    expect(w.replicas).toBe(3)
  })

  test("an availability NFR of 0.99 or more keeps two replicas, and an error rate over its budget is named", async () => {
    const w = makeWorld({ nfr: { availability: 0.999 }, maxScale: 4 })
    w.set({ rps: 10 })
    expect((await run(w, passes(w, 5))).at(-1)).toBe(2)
    expect(w.reports[0]!.functions[0]!.reason).toContain("bounded by the lower bound 2")
    // Never below 2 when idle either; maxScale 1 wins over redundancy.
    w.set({ rps: 0 })
    expect((await run(w, passes(w, 20))).at(-1)).toBe(2)
    w.set({ rps: 10, errors: 1 })
    await run(w, passes(w, 1))
    expect(w.lastFunction().observation.errorRate).toBeCloseTo(0.1)
    expect(w.lastFunction().reason).toContain("error rate 10% exceeds the 0.1% the availability NFR allows")
    const single = makeWorld({ nfr: { availability: 0.999 }, maxScale: 1 })
    single.set({ rps: 10 })
    expect((await run(single, passes(single, 5))).at(-1)).toBe(1)
  })

  test("missing series (never called, or not scraped) hold the count instead of reading as no traffic", async () => {
    const w = makeWorld({ replicas: 3 })
    w.set({})
    expect(await run(w, passes(w, 15))).toEqual(Array(15).fill(3))
    expect(w.lastCondition()).toMatchObject({ status: "Unknown", reason: "NoData" })
    expect(w.lastFunction().reason).toContain("no request metrics of this function in Prometheus yet")
    // A zero rate is a measurement: idle replicas go.
    w.set({ rps: 0 })
    expect((await run(w, passes(w, 5))).at(-1)).toBe(1)
  })

  test("nfr.fileSd: every pass writes the scrape targets for file_sd_configs; a path it cannot write only warns", async () => {
    const dir = makeTempDir("nfr-file-sd")
    try {
      const w = makeWorld({ replicas: 2 })
      w.set({ rps: 10 })
      const file = join(dir, "sd", "targets.json")
      await Effect.runPromise(Effect.provide(passes(w, 1), w.layer("scripted", { ...config, fileSd: file })))
      expect(JSON.parse(readFileSync(file, "utf8"))).toEqual([
        {
          targets: ["127.0.0.1:9100", "127.0.0.1:9101"],
          labels: {
            oprc_component: "function",
            oprc_deployment: "shop",
            oprc_unit: "shop-local",
            oprc_class: "shop.Cart",
            oprc_function: "Cart.fn",
          },
        },
        { targets: ["127.0.0.1:8081"], labels: { oprc_component: "odgm" } },
      ])
      const bad = makeWorld({})
      bad.set({ rps: 10 })
      await Effect.runPromise(
        Effect.provide(passes(bad, 1), bad.layer("scripted", { ...config, fileSd: "/proc/no-such-dir/targets.json" })),
      )
      expect(bad.lastCondition()).toMatchObject({ status: "True" })
    } finally {
      removeTempDir(dir)
    }
  })

  test("a scale the driver refuses is reported in words and tried again on the next pass", async () => {
    const w = makeWorld({ scaleFails: "unit shop-local is being deleted" })
    w.set({ rps: 250 })
    expect((await run(w, passes(w, 6))).at(-1)).toBe(1)
    expect(w.scaleCalls).toEqual([3, 3, 3])
    expect(w.lastFunction().reason).toContain(
      "cannot scale function Cart.fn of shop-local to 3: unit shop-local is being deleted",
    )
    expect(w.lastFunction()).toMatchObject({ desiredReplicas: 1, scaled: false })
  })

  test("a Prometheus that accepts but never answers fails the pass after the query timeout, not later", async () => {
    // A real socket that takes the connection and says nothing.
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } })
    try {
      const client = Prometheus.make(`http://127.0.0.1:${silent.port}`, 300)
      const started = performance.now()
      const error = await Effect.runPromise(Effect.flip(client.query("up")))
      expect(error._tag).toBe("PrometheusUnavailable")
      expect(error.message).toContain("no answer within 300 ms")
      expect(performance.now() - started).toBeLessThan(3000)
    } finally {
      silent.stop(true)
    }
  })
})
