import { Context, Effect, Layer, Schema } from "effect"
import { tracedFn } from "@oprc/observability"

/** Prometheus did not answer (refused, timed out, 5xx): the numbers are unknown right now. */
class PrometheusUnavailable extends Schema.TaggedError<PrometheusUnavailable>()("PrometheusUnavailable", {
  url: Schema.String,
  reason: Schema.String,
}) {
  override get message(): string {
    return `Prometheus at ${this.url} is unavailable: ${this.reason}`
  }
}

/** Prometheus answered but rejected the query (a bug in our PromQL, or a result we cannot read). */
class PrometheusQueryError extends Schema.TaggedError<PrometheusQueryError>()("PrometheusQueryError", {
  query: Schema.String,
  reason: Schema.String,
}) {
  override get message(): string {
    return `Prometheus rejected ${this.query}: ${this.reason}`
  }
}

export type PrometheusError = PrometheusUnavailable | PrometheusQueryError

/** One element of an instant vector. NaN values (e.g. a quantile of no requests) are dropped. */
export interface Sample {
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

interface QueryBody {
  readonly status?: string
  readonly error?: string
  readonly data?: { readonly resultType?: string; readonly result?: unknown }
}

type VectorElement = { readonly metric?: Record<string, string>; readonly value?: [number, string] }

const toSamples = (query: string, body: QueryBody): Effect.Effect<ReadonlyArray<Sample>, PrometheusQueryError> => {
  const data = body.data
  if (body.status !== "success" || data === undefined) {
    return Effect.fail(new PrometheusQueryError({ query, reason: body.error ?? "no data in the answer" }))
  }
  if (data.resultType === "scalar") {
    const v = Number((data.result as [number, string])[1])
    return Effect.succeed(Number.isFinite(v) ? [{ labels: {}, value: v }] : [])
  }
  if (data.resultType !== "vector" || !Array.isArray(data.result)) {
    return Effect.fail(
      new PrometheusQueryError({ query, reason: `expected an instant vector, got ${data.resultType}` }),
    )
  }
  const samples: Array<Sample> = []
  for (const r of data.result as ReadonlyArray<VectorElement>) {
    const v = Number(r.value?.[1])
    if (Number.isFinite(v)) samples.push({ labels: r.metric ?? {}, value: v })
  }
  return Effect.succeed(samples)
}

/** Prometheus's HTTP query API: instant queries with a deadline and tagged errors. */
export class Prometheus extends Context.Service<Prometheus, {
  readonly url: string
  readonly query: (promql: string) => Effect.Effect<ReadonlyArray<Sample>, PrometheusError>
}>()("crm/nfr/Prometheus") {
  static readonly make = (url: string, timeoutMs: number) => {
    const base = url.replace(/\/+$/, "")
    const query = tracedFn("Prometheus.query")(function*(promql: string) {
      const res = yield* Effect.tryPromise({
        try: (signal) =>
          fetch(`${base}/api/v1/query`, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: new URLSearchParams({ query: promql }),
            signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
          }).then(async (r) => ({ status: r.status, text: await r.text() })),
        catch: (cause) =>
          new PrometheusUnavailable({
            url: base,
            reason: cause instanceof Error && cause.name === "TimeoutError"
              ? `no answer within ${timeoutMs} ms`
              : cause instanceof Error
              ? cause.message
              : String(cause),
          }),
      })
      // 400 and 422 are the query's fault; anything else non-2xx is the server's.
      if (res.status >= 500 || (res.status >= 300 && res.status !== 400 && res.status !== 422)) {
        return yield* new PrometheusUnavailable({ url: base, reason: `HTTP ${res.status}: ${res.text.slice(0, 200)}` })
      }
      const body = yield* Effect.try({
        try: () => JSON.parse(res.text) as QueryBody,
        catch: () => new PrometheusQueryError({ query: promql, reason: `answer is not JSON (HTTP ${res.status})` }),
      })
      return yield* toSamples(promql, body)
    })
    return Prometheus.of({ url: base, query })
  }

  static readonly layer = (url: string, timeoutMs: number) => Layer.succeed(Prometheus)(Prometheus.make(url, timeoutMs))
}
