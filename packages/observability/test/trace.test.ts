import { describe, expect, test } from "bun:test"
import { Cause, Effect, type Exit, Layer, Option } from "effect"
import { countRpc, currentTraceHeaders, prometheusText, Telemetry, tracedFn, withServerSpan } from "../src/index.ts"

const caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
const identity = { name: "trace-test", version: "0" }
const noExporter = Telemetry.layer(identity, { log: { level: "error", format: "json" }, otlp: { samplingRatio: 1 } })

/** What a downstream call made inside a request's server span (and an inner Effect.fn span) sends. */
const downstream = (headers: Record<string, string>) =>
  withServerSpan(
    "rpc test/Call",
    headers,
    {},
    Effect.fn("Inner.step")(function*() {
      return {
        headers: yield* currentTraceHeaders,
        span: Option.getOrUndefined(yield* Effect.option(Effect.currentSpan)),
      }
    })(),
  )

describe("tracing without an exporter", () => {
  test("records no spans, and a downstream call still continues the caller's trace", async () => {
    const r = await Effect.runPromise(downstream({ traceparent: caller }).pipe(Effect.provide(noExporter)))
    // The caller's own span is the parent downstream: our no-op spans are skipped, not sent.
    expect(r.headers.traceparent).toBe(caller)
    expect(r.span?.spanId).toBe("noop")
  })

  test("with no caller there is no trace to pass on", async () => {
    const r = await Effect.runPromise(downstream({}).pipe(Effect.provide(noExporter)))
    expect(r.headers).toEqual({})
  })

  test("with the tracer on (an exporter's case), the downstream parent is the local span, in the caller's trace", async () => {
    const r = await Effect.runPromise(downstream({ traceparent: caller }).pipe(Effect.provide(Layer.empty)))
    const [, traceId, parentId, flags] = r.headers.traceparent!.split("-")
    expect(traceId).toBe("0af7651916cd43dd8448eb211c80319c")
    expect(parentId).toBe(r.span!.spanId)
    expect(parentId).not.toBe("b7ad6b7169203331")
    expect(flags).toBe("01")
  })
})

describe("request metrics", () => {
  test("countRpc counts on the registry the /metrics text reads", async () => {
    for (let i = 0; i < 3; i++) countRpc({ service: "t.Svc", method: "M", code: "ok", seconds: 0.002 })
    const text = await Effect.runPromise(prometheusText)
    expect(text).toContain("oprc_rpc_requests_total{service=\"t.Svc\",method=\"M\",code=\"ok\"} 3")
    expect(text).toContain("oprc_rpc_request_duration_seconds_count{service=\"t.Svc\",method=\"M\"} 3")
  })
})

describe("tracedFn", () => {
  const step = tracedFn("Test.step")(function*(fail: boolean) {
    const span = Option.getOrUndefined(yield* Effect.option(Effect.currentSpan))
    if (fail) return yield* Effect.fail(new Error("boom"))
    return span?.name
  })
  const callStep = (fail: boolean) => step(fail) // the call site a failure's trace names

  test("with the tracer on: a span of its own, and a failure's trace names the caller's line", async () => {
    expect(await Effect.runPromise(callStep(false))).toBe("Test.step")
    const exit = await Effect.runPromiseExit(callStep(true))
    expect(exit._tag).toBe("Failure")
    const frame = Cause.pretty((exit as Exit.Failure<never, Error>).cause).split("\n").find((l) =>
      l.includes("at Test.step")
    )
    expect(frame).toContain("trace.test.ts:")
    expect(frame).not.toContain("Trace.ts")
  })

  test("with the tracer off (no exporter): no span of its own, the body runs as is", async () => {
    const inCaller = Effect.withSpan(callStep(false), "caller")
    expect(await Effect.runPromise(inCaller.pipe(Effect.provide(noExporter)))).toBe("caller")
  })

  const failureFrame = (exit: Exit.Exit<unknown, unknown>) =>
    Cause.pretty((exit as Exit.Failure<never, Error>).cause).split("\n").find((l) => l.includes("at Test.step"))

  test("called inside a fiber that traces (yield* in a generator), the trace still names the caller's line", async () => {
    const exit = await Effect.runPromiseExit(Effect.gen(function*() {
      return yield* callStep(true)
    }))
    expect(failureFrame(exit)).toContain("trace.test.ts:")
    expect(failureFrame(exit)).not.toContain("Trace.ts")
  })

  test("called in a fiber that does not trace but run where the tracer is on: the span, without a frame", async () => {
    const made = await Effect.runPromise(Effect.sync(() => callStep(false)).pipe(Effect.provide(noExporter)))
    expect(await Effect.runPromise(made)).toBe("Test.step")
    const failing = await Effect.runPromise(Effect.sync(() => callStep(true)).pipe(Effect.provide(noExporter)))
    const exit = await Effect.runPromiseExit(failing)
    expect(exit._tag).toBe("Failure")
    expect(failureFrame(exit) ?? "").not.toContain("Trace.ts")
  })
})
