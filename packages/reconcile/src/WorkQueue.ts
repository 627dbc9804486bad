import { Deferred, Duration, Effect, Queue, Scope, type Tracer } from "effect"

/**
 * A keyed work queue, as in a Kubernetes controller: a key is queued at most once, is processed
 * by at most one worker at a time, and a key enqueued while it is being processed runs again
 * afterwards. Callers may wait for the next pass over a key; the first waiter's span becomes the
 * pass's parent, so a request's trace continues into the calls that pass makes.
 */
export interface WorkQueue {
  readonly enqueue: (key: string) => Effect.Effect<void>
  /** Enqueue after `ms` unless the key is already scheduled for later. */
  readonly enqueueAfter: (key: string, ms: number) => Effect.Effect<void>
  /** Enqueue and wait until a pass that started after this call has finished. */
  readonly awaitPass: (key: string, span: Tracer.AnySpan | undefined) => Effect.Effect<void>
  /** Runs `process` for queued keys forever, `workers` at a time. */
  readonly run: <R>(
    workers: number,
    process: (key: string, parent: Tracer.AnySpan | undefined) => Effect.Effect<void, never, R>,
  ) => Effect.Effect<never, never, R>
}

interface Waiter {
  readonly done: Deferred.Deferred<void>
  readonly span: Tracer.AnySpan | undefined
}

export const makeWorkQueue: Effect.Effect<WorkQueue, never, Scope.Scope> = Effect.gen(function*() {
  const scope = yield* Scope.Scope
  const queue = yield* Queue.unbounded<string>()
  const queued = new Set<string>()
  const running = new Set<string>()
  const again = new Set<string>()
  const later = new Set<string>()
  const waiters = new Map<string, Array<Waiter>>()

  const enqueue = (key: string) =>
    Effect.suspend(() => {
      if (running.has(key)) {
        again.add(key)
        return Effect.void
      }
      if (queued.has(key)) return Effect.void
      queued.add(key)
      return Queue.offer(queue, key).pipe(Effect.asVoid)
    })

  const enqueueAfter = (key: string, ms: number) =>
    Effect.suspend(() => {
      if (later.has(key)) return Effect.void
      later.add(key)
      return Effect.sleep(Duration.millis(ms)).pipe(
        Effect.andThen(Effect.sync(() => later.delete(key))),
        Effect.andThen(enqueue(key)),
        Effect.forkIn(scope),
        Effect.asVoid,
      )
    })

  const awaitPass = (key: string, span: Tracer.AnySpan | undefined) =>
    Effect.gen(function*() {
      const done = yield* Deferred.make<void>()
      const list = waiters.get(key) ?? []
      list.push({ done, span })
      waiters.set(key, list)
      yield* enqueue(key)
      yield* Deferred.await(done)
    })

  const run: WorkQueue["run"] = (workers, process) => {
    const worker = Effect.gen(function*() {
      const key = yield* Queue.take(queue)
      queued.delete(key)
      running.add(key)
      const mine = waiters.get(key) ?? []
      waiters.delete(key)
      const parent = mine.find((w) => w.span !== undefined)?.span
      yield* process(key, parent).pipe(
        Effect.ensuring(Effect.gen(function*() {
          running.delete(key)
          yield* Effect.forEach(mine, (w) => Deferred.succeed(w.done, undefined), { discard: true })
          if (again.delete(key)) yield* enqueue(key)
        })),
      )
    }).pipe(Effect.forever)
    return Effect.all(Array.from({ length: workers }, () => worker), { concurrency: "unbounded" }).pipe(
      Effect.andThen(Effect.never),
    )
  }

  return { enqueue, enqueueAfter, awaitPass, run }
})
