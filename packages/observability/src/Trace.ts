import { Context, Effect, Fiber, Option, References, Tracer } from "effect"
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
 * the configured ratio; a span with a remote parent follows the parent's decision. (No
 * Effect.gen here: this wraps every request, and the generator and its extra steps cost more
 * than the span itself.)
 */
export const withServerSpan = <A, E, R>(
  name: string,
  headers: Record<string, string | undefined> | globalThis.Headers,
  attributes: Record<string, unknown>,
  effect: Effect.Effect<A, E, R>,
): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) => {
    const parent = parentFromHeaders(headers)
    // Nothing exports spans and there is no caller's trace to continue: no span at all (Effect's
    // no-op span would still cost a context change per call, and nothing could ever read it).
    if (Option.isNone(parent) && !fiber.getRef(References.TracerEnabled)) return effect
    const sampled = Option.isSome(parent)
      ? parent.value.sampled
      : sampledRoot(fiber.getRef(SamplingRatio))
    return Effect.withSpan(effect, name, {
      kind: "server",
      attributes,
      sampled,
      // The stack of a server span is always the edge's: capturing it (an Error per request)
      // would cost more than the rest of the span.
      captureStackTrace: false,
      ...(Option.isSome(parent) ? { parent: parent.value } : { root: true }),
    })
  })

const sampledRoot = (ratio: number) => ratio >= 1 || Math.random() < ratio

/**
 * The span a downstream call continues: the current one, or with tracing off (no exporter) the
 * nearest real ancestor past Effect's no-op spans, usually the caller's remote parent.
 */
const propagatedSpan = (span: Tracer.AnySpan | undefined): Tracer.AnySpan | undefined => {
  let at = span
  while (at !== undefined && at._tag === "Span" && Context.get(at.annotations, Tracer.DisablePropagation)) {
    at = Option.getOrUndefined(at.parent)
  }
  return at
}

/** W3C `traceparent` and compact B3 for `span` (HttpTraceContext.toHeaders takes local spans only). */
const traceHeaders = (span: Tracer.AnySpan): Record<string, string> => {
  if (span._tag === "Span") return { ...HttpTraceContext.toHeaders(span) } as Record<string, string>
  return {
    b3: `${span.traceId}-${span.spanId}-${span.sampled ? "1" : "0"}`,
    traceparent: `00-${span.traceId.padStart(32, "0")}-${span.spanId}-${span.sampled ? "01" : "00"}`,
  }
}

/**
 * Headers that carry the current span to a downstream call (empty outside any trace). Read as an
 * Option: `Effect.currentParentSpan` fails with a NoSuchElementError when there is no span, and
 * making that error (its stack) on every untraced call was ~2 % of an ODGM invoke's CPU.
 */
export const currentTraceHeaders: Effect.Effect<Record<string, string>> = Effect.map(
  Effect.serviceOption(Tracer.ParentSpan),
  (span) => {
    if (Option.isNone(span)) return {}
    const at = propagatedSpan(span.value)
    return at === undefined ? {} : traceHeaders(at)
  },
)

/**
 * `Effect.fn(name)` for code on a request's path. With tracing on: a span named `name` whose
 * stack frame is the caller's line, as Effect.fn gives. With tracing off (no exporter) the body
 * runs as `fnUntraced`: Effect.fn costs ~1.7-3 µs per call even when its span is a no-op, this
 * ~0.5 µs. The call site is an Error made at the call (~0.2 µs; its stack, the costly part, is
 * only read when a span's frame is printed), and only when the calling fiber traces: see
 * {@link callerTraces}.
 */
export const tracedFn = (name: string): typeof Effect.fnUntraced =>
  ((body: never, ...pipeables: Array<never>) => {
    const untraced =
      (Effect.fnUntraced as (...a: Array<unknown>) => (...args: Array<unknown>) => Effect.Effect<unknown>)(
        body,
        ...pipeables,
      )
    return function(this: unknown, ...args: Array<unknown>) {
      let calledAt: Error | undefined
      if (callerTraces()) {
        const limit = Error.stackTraceLimit
        Error.stackTraceLimit = 2
        calledAt = new Error()
        Error.stackTraceLimit = limit
      }
      return Effect.withFiber((fiber) => {
        const effect = untraced.apply(this, args)
        if (!fiber.getRef(References.TracerEnabled)) return effect
        // Frames of `calledAt`: this function, then its caller. Without it (made in a fiber that
        // did not trace, run in one that does) the span has no frame rather than a wrong one.
        let line: string | undefined
        const caller = () => (line ??= calledAt?.stack?.split("\n")[2]?.trim())
        return Effect.withSpan(effect, name, { captureStackTrace: calledAt === undefined ? false : caller })
      })
    }
  }) as never

/**
 * Whether the code calling a traced function may get a span: false only when it runs in a fiber
 * (`yield* f(...)` in a generator, the usual case) whose TracerEnabled is off, the same Reference
 * the span is decided by when the effect runs, so the Error naming the call site is made whenever
 * that fiber, or a fork of it, will make the span. Called outside any fiber (an effect built ahead
 * and run later) it answers true, as nothing tells where the effect will run.
 */
const callerTraces = (): boolean => {
  const fiber = Fiber.getCurrent()
  return fiber === undefined || fiber.getRef(References.TracerEnabled)
}
