import { Cause, Duration, Effect, Option, Schedule, type Scope, type Tracer } from "effect"
import { recordFailure, recordRun } from "./Metrics.ts"
import { makeWorkQueue } from "./WorkQueue.ts"

/**
 * What a reconcile pass asks for next:
 * - Done: nothing until something changes (or the periodic resync).
 * - RequeueAfter: all is in order but still moving (a rollout); look again after `ms`.
 * - Retry: something failed; look again after the key's next backoff delay.
 */
export type Outcome =
  | { readonly _tag: "Done" }
  | { readonly _tag: "RequeueAfter"; readonly ms: number }
  | { readonly _tag: "Retry"; readonly reason: string }

export const Outcome = {
  done: { _tag: "Done" } as Outcome,
  requeueAfter: (ms: number): Outcome => ({ _tag: "RequeueAfter", ms }),
  retry: (reason: string): Outcome => ({ _tag: "Retry", reason }),
} as const

export interface ControllerOptions {
  /** Metric label and span prefix, e.g. "pm-deployments", "crm-units". */
  readonly name: string
  /** Keys reconciled in parallel (one key is never reconciled by two workers at once). */
  readonly workers: number
  /** Every key `keys` lists is reconciled at least this often; 0 turns the resync off. */
  readonly resyncMs: number
  /** Retry delays: jittered exponential from baseMs, doubling, capped at maxMs. Default 200 ms .. resyncMs (or 30 s). */
  readonly backoff?: { readonly baseMs: number; readonly maxMs: number }
  /** The pass's span: default name "<name>.reconcile", key attribute "oprc.key". */
  readonly span?: { readonly name: string; readonly keyAttribute: string }
}

export interface Controller {
  readonly enqueue: (key: string) => Effect.Effect<void>
  readonly enqueueAfter: (key: string, ms: number) => Effect.Effect<void>
  /** Enqueue and wait until a pass that started after this call has finished (the pass joins the caller's trace). */
  readonly awaitPass: (key: string, waitMs: number) => Effect.Effect<void>
  /**
   * Runs `effect` (a caller's change to `key`'s desired state, then usually awaitPass) so that
   * every pass over `key` starting meanwhile joins the caller's trace. Whatever queues the pass
   * that applies the change (a storage watch that saw the write first, the resync, awaitPass),
   * the calls it makes are in the request's trace.
   */
  readonly inTrace: <A, E, R>(key: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Current retry count of a key (0 after a success). */
  readonly failures: (key: string) => number
}

const errorTag = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.findErrorOption(cause)
  if (Option.isSome(failure)) {
    const e = failure.value
    return typeof e === "object" && e !== null && "_tag" in e && typeof e._tag === "string" ? e._tag : "UnknownError"
  }
  return Cause.hasInterruptsOnly(cause) ? "Interrupted" : "Defect"
}

/**
 * A reconcile loop over string keys, as in a Kubernetes controller: a keyed work queue (per-key
 * serialisation and deduplication), `reconcile(key)` passes whose Outcome decides the next look,
 * per-key jittered exponential backoff (Schedule) after failures, and a periodic resync of every
 * key `keys` lists. A pass that fails or dies counts as Retry, tagged by its error in the metrics.
 * The loop runs in the scope; time comes from Clock, so TestClock drives it in tests.
 */
export const makeController = <E, R, R2>(
  options: ControllerOptions,
  reconcile: (key: string) => Effect.Effect<Outcome, E, R>,
  keys: Effect.Effect<Iterable<string>, unknown, R2>,
): Effect.Effect<Controller, never, Scope.Scope | R | R2> =>
  Effect.gen(function*() {
    const queue = yield* makeWorkQueue
    const maxMs = options.backoff?.maxMs ?? (options.resyncMs > 0 ? options.resyncMs : 30_000)
    const baseMs = Math.min(options.backoff?.baseMs ?? 200, maxMs)
    const schedule = Schedule.exponential(Duration.millis(baseMs)).pipe(
      Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.millis(maxMs)))),
      Schedule.jittered,
    )
    // One schedule step function per failing key: its attempt count is the key's backoff state.
    const backoff = new Map<string, { step: (now: number, input: unknown) => Effect.Effect<unknown>; n: number }>()

    const nextDelay = (key: string) =>
      Effect.gen(function*() {
        let state = backoff.get(key)
        if (state === undefined) {
          const step = yield* Schedule.toStep(schedule)
          state = { step: step as never, n: 0 }
          backoff.set(key, state)
        }
        state.n++
        const now = yield* Effect.clockWith((c) => c.currentTimeMillis)
        const [, delay] = (yield* state.step(now, undefined).pipe(Effect.orDie)) as [unknown, Duration.Duration]
        return Math.max(0, Math.round(Duration.toMillis(delay)))
      })

    // Spans of callers inside inTrace, per key: a pass with no waiter's span takes the oldest.
    const changing = new Map<string, Array<Tracer.AnySpan>>()

    const process = (key: string, waiterSpan: Tracer.AnySpan | undefined) =>
      Effect.gen(function*() {
        const parent = waiterSpan ?? changing.get(key)?.[0]
        const started = yield* Effect.clockWith((c) => c.currentTimeMillis)
        const exit = yield* reconcile(key).pipe(
          Effect.withSpan(options.span?.name ?? `${options.name}.reconcile`, {
            attributes: { [options.span?.keyAttribute ?? "oprc.key"]: key },
            ...(parent === undefined ? { root: true } : { parent }),
          }),
          Effect.exit,
        )
        const seconds = ((yield* Effect.clockWith((c) => c.currentTimeMillis)) - started) / 1000
        if (exit._tag === "Failure") {
          const tag = errorTag(exit.cause)
          yield* recordFailure(options.name, tag)
          yield* recordRun(options.name, "error", seconds)
          if (tag === "Defect") {
            yield* Effect.logError(`${options.name}: reconcile ${key} died`, Cause.pretty(exit.cause))
          } else yield* Effect.logWarning(`${options.name}: reconcile ${key} failed (${tag})`)
          return yield* queue.enqueueAfter(key, yield* nextDelay(key))
        }
        const outcome = exit.value
        switch (outcome._tag) {
          case "Done":
            backoff.delete(key)
            return yield* recordRun(options.name, "done", seconds)
          case "RequeueAfter":
            backoff.delete(key)
            yield* recordRun(options.name, "requeue", seconds)
            return yield* queue.enqueueAfter(key, outcome.ms)
          case "Retry":
            yield* recordRun(options.name, "retry", seconds)
            return yield* queue.enqueueAfter(key, yield* nextDelay(key))
        }
      }).pipe(
        Effect.catchCause((cause) => Effect.logError(`${options.name}: worker failed on ${key}`, Cause.pretty(cause))),
      )

    yield* queue.run(options.workers, process).pipe(Effect.forkScoped)

    if (options.resyncMs > 0) {
      yield* Effect.sleep(Duration.millis(options.resyncMs)).pipe(
        Effect.andThen(keys),
        Effect.flatMap((all) => Effect.forEach(all, queue.enqueue, { discard: true })),
        Effect.catchCause((cause) => Effect.logWarning(`${options.name}: resync failed: ${Cause.pretty(cause)}`)),
        Effect.forever,
        Effect.forkScoped,
      )
    }

    return {
      enqueue: queue.enqueue,
      enqueueAfter: queue.enqueueAfter,
      awaitPass: (key, waitMs) =>
        Effect.gen(function*() {
          const span = yield* Effect.option(Effect.currentSpan)
          yield* queue.awaitPass(key, Option.getOrUndefined(span)).pipe(Effect.timeoutOption(Duration.millis(waitMs)))
        }),
      inTrace: (key, effect) =>
        Effect.flatMap(Effect.option(Effect.currentSpan), (span) => {
          if (Option.isNone(span)) return effect
          const spans = changing.get(key) ?? []
          spans.push(span.value)
          changing.set(key, spans)
          return Effect.ensuring(
            effect,
            Effect.sync(() => {
              spans.splice(spans.indexOf(span.value), 1)
              if (spans.length === 0 && changing.get(key) === spans) changing.delete(key)
            }),
          )
        }),
      failures: (key) => backoff.get(key)?.n ?? 0,
    }
  })
