import type { Database } from "bun:sqlite"
import { Deferred, Effect, Exit, Queue, type Scope } from "effect"
import { StorageError } from "@oprc/models"

/**
 * Group commit for bun:sqlite. With synchronous=FULL every COMMIT pays an fsync, so one
 * transaction per write caps throughput at the disk's fsync rate. Instead every write is queued,
 * and a single writer fiber drains the queue into ONE transaction: each job runs inside its own
 * SAVEPOINT (so one job's SQL failure rolls back only that job, and a CAS conflict is just that
 * job's result), then one COMMIT makes them all durable, and only then is any caller answered.
 * bun:sqlite is synchronous, so a batch runs in one JS turn: readers on the same connection never
 * see a half-written batch, and while the fsync blocks, the next batch gathers in the queue.
 */

/**
 * What a job decided: a value, or a domain failure (a CAS conflict) that wrote nothing.
 * `afterCommit` runs once the batch is durable, in batch order, before the caller is answered
 * (the control-plane store announces its watch events there, so they arrive in revision order).
 */
export type JobResult<A, E> =
  | { readonly ok: true; readonly value: A; readonly afterCommit?: (() => void) | undefined }
  | { readonly ok: false; readonly error: E }
export const ok = <A>(value: A, afterCommit?: () => void): JobResult<A, never> => ({ ok: true, value, afterCommit })
export const failed = <E>(error: E): JobResult<never, E> => ({ ok: false, error })

interface Job {
  /** Runs the job's SQL; may throw (then its savepoint is rolled back). */
  readonly attempt: () => void
  readonly onThrow: (cause: unknown) => void
  /** After COMMIT: answer the caller. */
  readonly settle: Effect.Effect<void>
  readonly abort: (error: StorageError) => Effect.Effect<void>
}

export interface Writer {
  /** Runs `f` in a write transaction; resolves once that transaction is durable. */
  readonly write: <A, E>(operation: string, f: (db: Database) => JobResult<A, E>) => Effect.Effect<A, E | StorageError>
}

export interface WriterOptions {
  /** false: one transaction (one fsync) per write; for comparison and debugging. */
  readonly groupCommit: boolean
  readonly maxBatch: number
}

const runBatch = (db: Database, jobs: ReadonlyArray<Job>): StorageError | undefined => {
  try {
    db.run("BEGIN IMMEDIATE")
  } catch (cause) {
    return storageError("begin", true)(cause)
  }
  for (const job of jobs) {
    db.run("SAVEPOINT job")
    try {
      job.attempt()
      db.run("RELEASE job")
    } catch (cause) {
      db.run("ROLLBACK TO job")
      db.run("RELEASE job")
      job.onThrow(cause)
    }
  }
  try {
    db.run("COMMIT")
    return undefined
  } catch (cause) {
    // Nothing of this batch is durable; every caller hears so and may retry.
    if (db.inTransaction) db.run("ROLLBACK")
    return storageError("commit", true)(cause)
  }
}

const settleAll = (jobs: ReadonlyArray<Job>, error: StorageError | undefined) =>
  Effect.forEach(jobs, (j) => (error ? j.abort(error) : j.settle), { discard: true })

export const makeWriter = (db: Database, options: WriterOptions): Effect.Effect<Writer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Job>()
    // After the scope closes nothing drains the queue: later writes fail at once instead of waiting.
    let closed = false

    if (options.groupCommit) {
      const drain = Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const first = yield* restore(Queue.takeBetween(queue, 1, options.maxBatch))
          // Callers just answered by the previous batch resume on this tick; letting them enqueue
          // before we start makes the batches (and so the fsync savings) much larger.
          yield* Effect.yieldNow
          const more = first.length < options.maxBatch
            ? yield* Queue.takeBetween(queue, 0, options.maxBatch - first.length)
            : []
          const jobs = [...first, ...more]
          const error = yield* Effect.sync(() => runBatch(db, jobs))
          yield* settleAll(jobs, error)
        })
      )
      yield* Effect.forkScoped(Effect.forever(drain))
      // Whatever is still queued when the store closes is answered, not left hanging.
      yield* Effect.addFinalizer(() =>
        Effect.flatMap(
          Effect.andThen(Effect.sync(() => (closed = true)), Queue.clear(queue)),
          (jobs) => settleAll(jobs, new StorageError({ operation: "commit", reason: "store closed", retryable: true })),
        )
      )
    }

    if (!options.groupCommit) yield* Effect.addFinalizer(() => Effect.sync(() => (closed = true)))

    const write = <A, E>(operation: string, f: (db: Database) => JobResult<A, E>) =>
      Effect.gen(function*() {
        if (closed) return yield* new StorageError({ operation, reason: "the store is closed", retryable: false })
        const done = yield* Deferred.make<A, E | StorageError>()
        let outcome: JobResult<A, E | StorageError> | undefined
        const job: Job = {
          attempt: () => {
            outcome = f(db)
          },
          onThrow: (cause) => {
            outcome = failed(storageError(operation, isBusy(cause))(cause))
          },
          settle: Effect.suspend(() => {
            if (outcome?.ok === true) outcome.afterCommit?.()
            return Deferred.done(
              done,
              outcome === undefined
                ? Exit.fail(lost(operation))
                : outcome.ok
                ? Exit.succeed(outcome.value)
                : Exit.fail(outcome.error),
            )
          }),
          abort: (error) => Deferred.fail(done, error),
        }
        if (options.groupCommit) yield* Queue.offer(queue, job)
        else yield* Effect.flatMap(Effect.sync(() => runBatch(db, [job])), (error) => settleAll([job], error))
        return yield* Deferred.await(done)
      })

    return { write }
  })

const lost = (operation: string) => new StorageError({ operation, reason: "write job did not run", retryable: true })

const isBusy = (cause: unknown): boolean =>
  cause instanceof Error && "code" in cause && typeof cause.code === "string" &&
  /^SQLITE_(BUSY|LOCKED|IOERR|FULL)/.test(cause.code)

const storageError = (operation: string, retryable: boolean) => (cause: unknown) =>
  new StorageError({ operation, reason: cause instanceof Error ? cause.message : String(cause), retryable, cause })
