import { Deferred, Effect, Queue } from "effect"
import type { Scope } from "effect"
import type { Change } from "../DocumentStore.ts"
import { StorageError } from "@oprc/models"

/** What one write decided inside the transaction: its result plus the changes to announce. */
export type Outcome<A, E> =
  | { readonly _tag: "Ok"; readonly value: A; readonly changes: ReadonlyArray<readonly [kind: string, Change<string>]> }
  | { readonly _tag: "Err"; readonly error: E }

interface Job {
  readonly exec: () => void
  readonly committed: () => void
  readonly aborted: (error: StorageError) => void
}

export interface GroupCommit {
  /** Runs `body` inside the next batch's transaction; resolves after that batch is durable. */
  readonly write: <A, E>(body: () => Outcome<A, E>) => Effect.Effect<A, E | StorageError>
}

/**
 * Group commit: writes queue up while the previous batch is being fsynced, then all of them
 * run in one transaction with one fsync. Each body sees the effects of the bodies before it, so
 * the batch is equivalent to running them one by one. Results (and watch events) are released
 * only after COMMIT returned: an acknowledged write is on disk.
 */
export const makeGroupCommit = (
  transaction: (run: () => void) => void,
  publish: (kind: string, change: Change<string>) => void,
): Effect.Effect<GroupCommit, never, Scope.Scope> =>
  Effect.gen(function* () {
    const queue = yield* Queue.unbounded<Job>()
    // Jobs offered but not yet answered, so closing the store fails them instead of leaving
    // their callers waiting forever.
    const pending = new Set<Job>()
    let closed = false
    const flush = (jobs: ReadonlyArray<Job>) =>
      Effect.try({
        try: () => transaction(() => jobs.forEach((j) => j.exec())),
        catch: (cause) => new StorageError({ reason: `sqlite commit failed: ${String(cause)}`, retryable: true }),
      }).pipe(
        Effect.match({
          onFailure: (error) => jobs.forEach((j) => j.aborted(error)),
          onSuccess: () => jobs.forEach((j) => j.committed()),
        }),
        Effect.ensuring(Effect.sync(() => jobs.forEach((j) => pending.delete(j)))),
      )
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closed = true
        const error = new StorageError({ reason: "the store is closed", retryable: false })
        for (const j of pending) j.aborted(error)
        pending.clear()
      }))
    // Taken jobs are always flushed: interruption may only stop the wait for the next batch.
    yield* Effect.uninterruptibleMask((restore) => Effect.flatMap(restore(Queue.takeAll(queue)), flush)).pipe(
      Effect.forever,
      Effect.forkScoped,
    )

    return {
      write: <A, E>(body: () => Outcome<A, E>) =>
        Effect.gen(function* () {
          if (closed) return yield* new StorageError({ reason: "the store is closed", retryable: false })
          const done = yield* Deferred.make<A, E | StorageError>()
          let outcome: Outcome<A, E> | undefined
          const job: Job = {
            exec: () => {
              outcome = body()
            },
            committed: () => {
              if (outcome?._tag === "Ok") {
                for (const [kind, change] of outcome.changes) publish(kind, change)
                Deferred.doneUnsafe(done, Effect.succeed(outcome.value))
              } else if (outcome?._tag === "Err") {
                Deferred.doneUnsafe(done, Effect.fail(outcome.error))
              }
            },
            aborted: (error) => {
              Deferred.doneUnsafe(done, Effect.fail(error))
            },
          }
          pending.add(job)
          yield* Queue.offer(queue, job)
          return yield* Deferred.await(done)
        }),
    }
  })
