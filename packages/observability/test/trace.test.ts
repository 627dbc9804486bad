import { describe, expect, test } from "bun:test"
import { Effect, Layer, Option } from "effect"
import { currentTraceHeaders, prometheusText, recordRpc, Telemetry, withServerSpan } from "../src/index.ts"

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
  test("recordRpc counts on the registry the /metrics text reads", async () => {
    for (let i = 0; i < 3; i++) {
      await Effect.runPromise(recordRpc({ service: "t.Svc", method: "M", code: "ok", seconds: 0.002 }))
    }
    const text = await Effect.runPromise(prometheusText)
    expect(text).toContain("oprc_rpc_requests_total{service=\"t.Svc\",method=\"M\",code=\"ok\"} 3")
    expect(text).toContain("oprc_rpc_request_duration_seconds_count{service=\"t.Svc\",method=\"M\"} 3")
  })
})
