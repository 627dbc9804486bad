import { Effect, Option, Tracer } from "effect"
import { Headers, HttpTraceContext } from "effect/http"
import { SamplingRatio } from "./Telemetry"

/** The remote parent carried by W3C `traceparent` (or b3) headers, if any. */
export const parentFromHeaders = (headers: Record<string, string | undefined> | globalThis.Headers): Option.Option<Tracer.ExternalSpan> => {
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
  Effect.gen(function* () {
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
