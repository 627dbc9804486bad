import { Context, Effect, Layer, Semaphore } from "effect"
import { DeadlineExceeded } from "@oprc/models"
import { setQueueDepth } from "../OdgmMetrics.ts"

interface Slot {
  readonly semaphore: Semaphore.Semaphore
  users: number
}

const waitInLine = <A, E, R>(slot: Slot, waitMs: number, body: Effect.Effect<A, E, R>) =>
  Effect.scoped(
    Effect.andThen(
      slot.semaphore.takeScoped(1).pipe(
        Effect.timeoutOrElse({
          duration: Math.max(0, waitMs),
          orElse: () =>
            Effect.fail(
              new DeadlineExceeded({
                reason: `timed out after ${waitMs} ms waiting for earlier invocations on the object`,
              }),
            ),
        }),
      ),
      body,
    ),
  )

/**
 * Turn-based access to objects on this node: invocations and read-modify-write operations on one
 * object run one at a time, in arrival order (virtual-actor style), so they never race each other
 * here; across nodes the version-checked commit decides. Waiting is bounded by the caller's
 * deadline; the body itself is not (a commit must not be cut in half).
 */
export class ObjectLocks extends Context.Service<ObjectLocks, {
  readonly withLock: <A, E, R>(
    cls: string,
    key: string,
    waitMs: number,
    body: Effect.Effect<A, E, R>,
  ) => Effect.Effect<A, E | DeadlineExceeded, R>
}>()("oprc/odgm/ObjectLocks") {
  static readonly layer: Layer.Layer<ObjectLocks> = Layer.sync(ObjectLocks)(() => {
    const slots = new Map<string, Slot>()
    const depth = new Map<string, number>()
    const track = (cls: string, delta: number) =>
      Effect.suspend(() => {
        const n = (depth.get(cls) ?? 0) + delta
        depth.set(cls, n)
        return setQueueDepth(cls, n)
      })
    const enter = (key: string) =>
      Effect.sync(() => {
        let slot = slots.get(key)
        if (slot === undefined) slots.set(key, slot = { semaphore: Semaphore.makeUnsafe(1), users: 0 })
        slot.users++
        return slot
      })
    const leave = (key: string, slot: Slot) =>
      Effect.sync(() => {
        if (--slot.users === 0 && slots.get(key) === slot) slots.delete(key)
      })
    return {
      withLock: (cls, key, waitMs, body) =>
        Effect.acquireUseRelease(
          Effect.andThen(track(cls, 1), enter(key)),
          (slot) =>
            // Alone on the object (the common case): take the turn at once, no timer. Otherwise wait
            // in line (first come, first served), bounded by the deadline.
            Effect.uninterruptibleMask((restore) =>
              slot.users === 1
                ? Effect.flatMap(slot.semaphore.takeIfAvailable(1), (taken) =>
                  taken
                    ? Effect.ensuring(restore(body), slot.semaphore.release(1))
                    : restore(waitInLine(slot, waitMs, body)))
                : restore(waitInLine(slot, waitMs, body))
            ),
          (slot) => Effect.andThen(leave(key, slot), track(cls, -1)),
        ),
    }
  })
}
