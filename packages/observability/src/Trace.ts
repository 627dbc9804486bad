import { Effect, Option, Tracer } from "effect"
import { Headers, HttpTraceContext } from "effect/http"
import { SamplingRatio } from "./Telemetry"

const traceparent = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

/** The remote parent carried by W3C `traceparent` (or b3) headers, if any. */
export const parentFromHeaders = (
  headers: Record<string, string | undefined> | globalThis.Headers,
): Option.Option<Tracer.ExternalSpan> => {
  // Fast path for the common cases (a W3C parent, or none) without copying the headers.
  const tp = headers instanceof globalThis.Headers
    ? headers.get("traceparent")
    : (headers.traceparent ?? headers.Traceparent)
  if (tp !== null && tp !== undefined) {
    const m = traceparent.exec(tp.trim())
    if (m) {
      return Option.some(
        Tracer.externalSpan({ traceId: m[1]!, spanId: m[2]!, sampled: (parseInt(m[3]!, 16) & 1) === 1 }),
      )
    }
  } else if (
    headers instanceof globalThis.Headers
      ? !headers.has("b3") && !headers.has("x-b3-traceid")
      : headers.b3 === undefined && headers["x-b3-traceid"] === undefined
  ) {
    return Option.none()
  }
  const record: Record<string, string> = {}
  if (headers instanceof globalThis.Headers) headers.forEach((v, k) => (record[k] = v))
  else for (const [k, v] of Object.entries(headers)) if (v !== undefined) record[k.toLowerCase()] = v
  return HttpTraceContext.fromHeaders(Headers.fromInput(record))
}

/**
 * Runs `effect` in a server span that continues the caller's trace. A root span is sampled by
 * the configured ratio; a span with a remote parent follows the parent's decision.
 */
export const withServerSpan = <A, E, R>(
  name: string,
  headers: Record<string, string | undefined> | globalThis.Headers,
  attributes: Record<string, unknown>,
  effect: Effect.Effect<A, E, R>,
): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const parent = parentFromHeaders(headers)
    const ratio = yield* SamplingRatio
    const sampled = Option.isSome(parent) ? parent.value.sampled : ratio >= 1 || Math.random() < ratio
    return yield* Effect.withSpan(effect, name, {
      kind: "server",
      attributes,
      sampled,
      ...(Option.isSome(parent) ? { parent: parent.value } : { root: true }),
    })
  })

/** Headers that carry the current span to a downstream call (empty outside a span). */
export const currentTraceHeaders: Effect.Effect<Record<string, string>> = Effect.currentSpan.pipe(
  Effect.map((span) => ({ ...HttpTraceContext.toHeaders(span) }) as Record<string, string>),
  Effect.orElseSucceed(() => ({})),
)
