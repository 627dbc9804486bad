import { Clock, Context, Effect, Latch, Layer, Random, Schedule } from "effect"
import { DeadlineExceeded, Unavailable } from "@oprc/models"
import { orUnavailable } from "./CollectionRegistry.ts"
import { partitionOf } from "./domain/partition.ts"
import { ObjectStoreService, type OutboxEvent, type StorageError } from "./storage/ObjectStore.ts"

/**
 * Records outbox events that belong to no object write (function-error triggers, accepted async
 * invocations), wakes the dispatcher when new events were committed, and hands out ids.
 *
 * Events without a write are committed as the deletion of an object that cannot exist (its id
 * holds "~", which object ids never do): the store records the events atomically and durably
 * through the same path as every other commit. The id is one of 16 per class: few enough that the
 * tombstones an engine may keep (NATS KV) stay bounded, enough that concurrent enqueues rarely
 * race for one key.
 */
export class Outbox extends Context.Service<Outbox, {
  readonly enqueue: (cls: string, events: ReadonlyArray<OutboxEvent>) => Effect.Effect<void, Unavailable>
  /** New events are claimable: wake the dispatcher now instead of at its next poll. */
  readonly notify: Effect.Effect<void>
  /** Waits for `notify` or `ms`, whichever comes first. */
  readonly awaitWork: (ms: number) => Effect.Effect<void>
  /** A fresh unique id, e.g. "inv-lzx1k2-8f3a9c1e". */
  readonly newId: (prefix: string) => Effect.Effect<string>
}>()("oprc/odgm/Outbox") {
  static readonly layer = Layer.effect(Outbox)(
    Effect.gen(function* () {
      const store = yield* ObjectStoreService
      const latch = yield* Latch.make(false)
      const newId = (prefix: string) =>
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          const a = yield* Random.nextIntBetween(0, 2 ** 31)
          const b = yield* Random.nextIntBetween(0, 2 ** 31)
          return `${prefix}-${now.toString(36)}-${a.toString(36)}${b.toString(36)}`
        })
      return {
        enqueue: Effect.fnUntraced(function* (cls: string, events: ReadonlyArray<OutboxEvent>) {
          if (events.length === 0) return
          const slot = partitionOf(events[0]!.id, 16)
          yield* orUnavailable(
            store.commit({ ref: { cls, partition: 0, id: `~outbox~${slot}` }, next: null, expectedVersion: 0n, events }).pipe(
              Effect.catchTag("VersionConflict", Effect.die), // the id cannot exist
            ),
          )
          yield* latch.open
        }),
        notify: Effect.asVoid(latch.open),
        awaitWork: (ms) => latch.await.pipe(Effect.timeoutOption(ms), Effect.andThen(latch.close), Effect.asVoid),
        newId,
      }
    }),
  )
}

/**
 * Retries an operation on retryable storage failures (a NATS leader election takes seconds) until
 * `deadline` (epoch ms); then fails with Unavailable. Only for operations safe to repeat.
 */
export const retryStorage = <A, E, R>(deadline: number, effect: Effect.Effect<A, E | StorageError, R>) =>
  // The common case costs nothing extra: the retry loop and its timer exist only after a failure.
  effect.pipe(
    Effect.catchIf(isRetryable, () =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        return yield* effect.pipe(
          Effect.retry({
            // Exponential from 25 ms, capped at 500 ms; the timeout below bounds the whole.
            schedule: Schedule.min([Schedule.exponential(25, 2), Schedule.spaced(500)]),
            while: isRetryable,
          }),
          Effect.timeoutOrElse({
            duration: Math.max(1, deadline - now),
            orElse: () => Effect.fail(new DeadlineExceeded({ reason: "storage did not answer before the deadline" })),
          }),
        )
      })),
    orUnavailable,
  )

function isRetryable(e: unknown): boolean {
  return typeof e === "object" && e !== null && "_tag" in e && e._tag === "StorageError" && "retryable" in e && e.retryable === true
}
