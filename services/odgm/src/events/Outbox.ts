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
      const notify = Effect.asVoid(latch.open)
      // One step reading the fiber's Clock and Random (a test's TestClock or seeded Random still
      // applies): one per invocation, where the generator over three effects it replaced cost ~0.8 µs.
      const int31 = (r: Random.Random) => Math.floor(r.nextDoubleUnsafe() * 2 ** 31).toString(36)
      const newId = (prefix: string) =>
        Effect.withFiber((fiber) => {
          const now = fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
          const r = fiber.getRef(Random.Random)
          return Effect.succeed(`${prefix}-${now.toString(36)}-${int31(r)}${int31(r)}`)
        })
      return {
        enqueue: (cls: string, events: ReadonlyArray<OutboxEvent>, invocation?: InvocationRecord) => {
          // (Most invocations fire nothing and record nothing: no step for them.)
          if (events.length === 0 && invocation === undefined) return Effect.void
          const ref = invocationSlot(cls, invocation?.id ?? events[0]!.id)
          // (Suspended: the commit is made each time the effect runs, as when this was a generator.)
          const committed = orUnavailable(
            Effect.suspend(() =>
              store.commit({ ref, next: null, expectedVersion: 0n, events, ...(invocation ? { invocation } : {}) })
            ).pipe(
              Effect.catchTag("VersionConflict", Effect.die), // the id cannot exist
            ),
          )
          return events.length > 0 ? Effect.andThen(committed, notify) : Effect.asVoid(committed)
        },
        notify,
        awaitWork: (ms) => latch.await.pipe(Effect.timeoutOption(ms), Effect.andThen(latch.close), Effect.asVoid),
        newId,
      }
    }),
  )
}
