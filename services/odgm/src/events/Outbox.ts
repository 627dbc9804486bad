import { Clock, Context, Effect, Latch, Layer, Random } from "effect"
import { orUnavailable, type Unavailable } from "@oprc/models"
import { invocationSlot } from "../storage/common.ts"
import { type InvocationRecord, ObjectStoreService, type OutboxEvent } from "../storage/ObjectStore.ts"

/**
 * Records outbox events that belong to no object write (function events of an invocation that
 * changed nothing, accepted async invocations), optionally with the invocation's record in the
 * same commit, wakes the dispatcher when new events were committed, and hands out ids.
 *
 * Such events are committed as the deletion of an object that cannot exist (`invocationSlot`):
 * the store records events and record atomically and durably through the same path as every
 * other commit.
 */
export class Outbox extends Context.Service<Outbox, {
  readonly enqueue: (
    cls: string,
    events: ReadonlyArray<OutboxEvent>,
    invocation?: InvocationRecord,
  ) => Effect.Effect<void, Unavailable>
  /** New events are claimable: wake the dispatcher now instead of at its next poll. */
  readonly notify: Effect.Effect<void>
  /** Waits for `notify` or `ms`, whichever comes first. */
  readonly awaitWork: (ms: number) => Effect.Effect<void>
  /** A fresh unique id, e.g. "inv-lzx1k2-8f3a9c1e". */
  readonly newId: (prefix: string) => Effect.Effect<string>
}>()("oprc/odgm/Outbox") {
  static readonly layer = Layer.effect(Outbox)(
    Effect.gen(function*() {
      const store = yield* ObjectStoreService
      const latch = yield* Latch.make(false)
      const newId = (prefix: string) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const a = yield* Random.nextIntBetween(0, 2 ** 31)
          const b = yield* Random.nextIntBetween(0, 2 ** 31)
          return `${prefix}-${now.toString(36)}-${a.toString(36)}${b.toString(36)}`
        })
      return {
        enqueue: Effect.fnUntraced(
          function*(cls: string, events: ReadonlyArray<OutboxEvent>, invocation?: InvocationRecord) {
            if (events.length === 0 && invocation === undefined) return
            const ref = invocationSlot(cls, invocation?.id ?? events[0]!.id)
            yield* orUnavailable(
              store.commit({ ref, next: null, expectedVersion: 0n, events, ...(invocation ? { invocation } : {}) })
                .pipe(
                  Effect.catchTag("VersionConflict", Effect.die), // the id cannot exist
                ),
            )
            if (events.length > 0) yield* latch.open
          },
        ),
        notify: Effect.asVoid(latch.open),
        awaitWork: (ms) => latch.await.pipe(Effect.timeoutOption(ms), Effect.andThen(latch.close), Effect.asVoid),
        newId,
      }
    }),
  )
}
