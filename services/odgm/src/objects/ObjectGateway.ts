import { Clock, Context, Effect, Layer, Option, Schedule, Schema } from "effect"
import {
  type Collection,
  DeadlineExceeded,
  NotFound,
  orUnavailable,
  Trigger,
  type Unavailable,
  ValidationError,
  VersionConflict,
} from "@oprc/models"
import { tracedFn } from "@oprc/observability"
import { CollectionRegistry } from "../collections/CollectionRegistry.ts"
import { dataFirings, objectTriggers, type Source, toDeliveries } from "../domain/events.ts"
import { checkObjectId, resolvePartition } from "../domain/partition.ts"
import type { Entries, ObjectAddress, ObjectPage, ObjectRef, ObjectState, StoredObject } from "../domain/types.ts"
import { ObjectLocks } from "./ObjectLocks.ts"
import { recordObjectOp } from "../OdgmMetrics.ts"
import { Outbox } from "../events/Outbox.ts"
import { ObjectStoreService, type OutboxEvent, type StorageError } from "../storage/ObjectStore.ts"

export type ObjectError = NotFound | ValidationError | Unavailable | DeadlineExceeded

export interface PutRequest {
  readonly entries: Entries
  /** `undefined`: keep the object's triggers. */
  readonly triggers: ReadonlyArray<Trigger> | undefined
  readonly expectedVersion: bigint | undefined
  readonly createOnly: boolean
}

export interface MergeRequest {
  readonly set: Entries
  readonly remove: ReadonlyArray<string>
  readonly expectedVersion: bigint | undefined
}

export interface ListRequest {
  readonly cls: string
  readonly partition: number | undefined
  readonly prefix: string | undefined
  readonly limit: number
  readonly cursor: string | undefined
}

export interface Resolved {
  readonly collection: Collection
  readonly ref: ObjectRef
}

const encodeTriggers = Schema.encodeSync(Schema.Array(Trigger))
export const lockKey = (ref: ObjectRef) => `${ref.cls}\u0000${ref.partition}\u0000${ref.id}`

/** Data-trigger events of a write, from the class's and the object's triggers. */
export const writeEvents = (
  collection: Collection,
  ref: ObjectRef,
  before: StoredObject | undefined,
  after: ObjectState | null,
  base: string,
  now: number,
): Array<OutboxEvent> => {
  const triggers = [...collection.triggers, ...objectTriggers(after?.triggers ?? before?.triggers)]
  const source: Source = { cls: ref.cls, partition: ref.partition, objectId: ref.id }
  return toDeliveries(dataFirings(source, triggers, before?.entries, after?.entries), source, base, now)
}

const pastDeadline = () => new DeadlineExceeded({ reason: "storage did not answer before the deadline" })

/**
 * A storage read on a request's path, cut at the caller's `deadline` (epoch ms): 504 rather than
 * a wait past what the caller asked for. Nothing here retries: the engine rides out its own
 * failures (NATS within its failover budget, SQLite within its busy timeout; docs/architecture.md
 * "Retries"), and what is still retryable after that is 503. Commits get no such cut: one that
 * started lands or conflicts, bounded by the engine's budget.
 */
export const readBefore = <A, E, R>(
  deadline: number,
  read: Effect.Effect<A, E | StorageError, R>,
  inline = false,
): Effect.Effect<A, Exclude<E, StorageError> | Unavailable | DeadlineExceeded, R> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    // A read that answers within this step (ObjectStore.inlineGets) cannot be cut by a timer, and
    // racing one costs two fibers and a timer per GET: check the deadline once instead.
    if (inline) return now < deadline ? orUnavailable(read) : Effect.fail(pastDeadline())
    return orUnavailable(read).pipe(
      Effect.timeoutOrElse({ duration: Math.max(1, deadline - now), orElse: () => Effect.fail(pastDeadline()) }),
    )
  })

/**
 * ObjectService: get / put / merge / delete / list on the objects of a collection. Writes are
 * read-modify-write under the object's lock with a version-checked commit; the data triggers
 * they fire are committed atomically with them.
 */
export class ObjectGateway extends Context.Service<ObjectGateway, {
  readonly resolve: (addr: ObjectAddress) => Effect.Effect<Resolved, NotFound | ValidationError | Unavailable>
  readonly get: (addr: ObjectAddress) => Effect.Effect<StoredObject, ObjectError>
  readonly put: (addr: ObjectAddress, req: PutRequest) => Effect.Effect<StoredObject, ObjectError | VersionConflict>
  readonly merge: (addr: ObjectAddress, req: MergeRequest) => Effect.Effect<StoredObject, ObjectError | VersionConflict>
  readonly remove: (
    addr: ObjectAddress,
    expectedVersion: bigint | undefined,
  ) => Effect.Effect<void, ObjectError | VersionConflict>
  readonly list: (req: ListRequest) => Effect.Effect<ObjectPage, ObjectError>
}>()("oprc/odgm/ObjectGateway") {
  static readonly layer = (options: { readonly timeoutMs: number; readonly maxConflictRetries: number }) =>
    Layer.effect(ObjectGateway)(
      Effect.gen(function*() {
        const store = yield* ObjectStoreService
        const registry = yield* CollectionRegistry
        const locks = yield* ObjectLocks
        const outbox = yield* Outbox

        // On every object call: plain steps, no generator (~0.6 µs each on a GET of ~25 µs).
        const resolve = (addr: ObjectAddress): Effect.Effect<Resolved, NotFound | ValidationError | Unavailable> =>
          Effect.flatMap(registry.get(addr.cls), (collection) => {
            const bad = checkObjectId(addr.id)
            if (bad) return Effect.fail(bad)
            const partition = resolvePartition(addr.id, addr.partition, collection.partitionCount)
            if (partition instanceof ValidationError) return Effect.fail(partition)
            return Effect.succeed({ collection, ref: { cls: addr.cls, partition, id: addr.id } })
          })

        const deadline = Effect.map(Clock.currentTimeMillis, (now) => now + options.timeoutMs)

        /** Read-modify-write; `change` sees the current object and returns the next state (null: delete). */
        const write = <E extends { readonly _tag: string }>(
          op: string,
          addr: ObjectAddress,
          expectedVersion: bigint | undefined,
          change: (current: StoredObject | undefined) => Effect.Effect<ObjectState | null, E>,
        ) =>
          Effect.gen(function*() {
            const { collection, ref } = yield* resolve(addr)
            const until = yield* deadline
            const attempt = Effect.gen(function*() {
              const current = Option.getOrUndefined(yield* readBefore(until, store.get(ref), store.inlineGets))
              const actual = current?.version ?? 0n
              if (expectedVersion !== undefined && expectedVersion !== actual) {
                return yield* new VersionConflict({
                  resource: "object",
                  name: `${ref.cls}/${ref.partition}/${ref.id}`,
                  expected: String(expectedVersion),
                  actual: String(actual),
                })
              }
              const next = yield* change(current)
              const now = yield* Clock.currentTimeMillis
              const events = writeEvents(collection, ref, current, next, yield* outbox.newId("evt"), now)
              const stored = yield* orUnavailable(
                store.commit({ ref, next, expectedVersion: actual, events }).pipe(Effect.uninterruptible),
              )
              if (events.length > 0) yield* outbox.notify
              return { before: current, after: stored }
            })
            // Without an expected version the caller wants the write applied: re-read and retry on a lost race.
            const retried = attempt.pipe(
              Effect.retry({
                schedule: Schedule.min([Schedule.exponential(1, 1.5), Schedule.spaced(20)]).pipe(Schedule.jittered),
                while: (e) => e._tag === "VersionConflict" && expectedVersion === undefined,
                times: options.maxConflictRetries,
              }),
            )
            const now = yield* Clock.currentTimeMillis
            const result = yield* locks.withLock(ref.cls, lockKey(ref), until - now, retried).pipe(
              Effect.tapError((e) => recordObjectOp(addr.cls, op, e._tag)),
            )
            yield* recordObjectOp(addr.cls, op, "ok")
            return result
          })

        return {
          resolve,
          // Untraced (no span, no call-site capture per GET): the request's server span covers it.
          // An inline read (ObjectStore.inlineGets) answers within the step that starts it, so the
          // deadline, taken in that same step, cannot pass before it: only other reads race it.
          get: (addr: ObjectAddress) =>
            Effect.flatMap(resolve(addr), ({ ref }) => {
              const found = (o: Option.Option<StoredObject>) =>
                Option.isSome(o)
                  ? Effect.succeed(o.value)
                  : Effect.fail(new NotFound({ resource: "object", name: `${ref.cls}/${ref.partition}/${ref.id}` }))
              return store.inlineGets
                ? Effect.flatMap(orUnavailable(store.get(ref)), found)
                : Effect.flatMap(deadline, (until) => Effect.flatMap(readBefore(until, store.get(ref)), found))
            }),

          put: tracedFn("ObjectGateway.put")(function*(addr: ObjectAddress, req: PutRequest) {
            const expected = req.createOnly ? 0n : req.expectedVersion
            const { after } = yield* write(
              "put",
              addr,
              expected,
              (current) =>
                Effect.succeed({
                  entries: req.entries,
                  triggers: req.triggers === undefined ? (current?.triggers ?? []) : encodeTriggers(req.triggers),
                }),
            )
            return after!
          }),

          merge: tracedFn("ObjectGateway.merge")(function*(addr: ObjectAddress, req: MergeRequest) {
            const { after } = yield* write("merge", addr, req.expectedVersion, (current) => {
              const entries: Record<string, Entries[string]> = { ...current?.entries, ...req.set }
              for (const k of req.remove) delete entries[k]
              return Effect.succeed({ entries, triggers: current?.triggers ?? [] })
            })
            return after!
          }),

          remove: tracedFn("ObjectGateway.remove")(
            function*(addr: ObjectAddress, expectedVersion: bigint | undefined) {
              yield* write("delete", addr, expectedVersion, (current) =>
                current === undefined
                  ? Effect.fail(
                    new NotFound({ resource: "object", name: `${addr.cls}/${addr.partition ?? "-"}/${addr.id}` }),
                  )
                  : Effect.succeed(null))
            },
          ),

          list: tracedFn("ObjectGateway.list")(function*(req: ListRequest) {
            const collection = yield* registry.get(req.cls)
            if (req.partition !== undefined && (req.partition < 0 || req.partition >= collection.partitionCount)) {
              return yield* ValidationError.single(
                "partition",
                `must be from 0 to ${collection.partitionCount - 1}, or "-" for every partition`,
              )
            }
            if (!Number.isInteger(req.limit) || req.limit < 1 || req.limit > 1000) {
              return yield* ValidationError.single("limit", "must be an integer from 1 to 1000")
            }
            const listing = store.list({
              cls: req.cls,
              limit: req.limit,
              ...(req.partition === undefined ? {} : { partition: req.partition }),
              ...(req.prefix ? { prefix: req.prefix } : {}),
              ...(req.cursor ? { cursor: req.cursor } : {}),
            }).pipe(
              // A non-retryable failure of a listing that was given a cursor is that cursor's fault.
              Effect.catchTag(
                "StorageError",
                (e): Effect.Effect<never, StorageError | ValidationError> =>
                  req.cursor && !e.retryable
                    ? Effect.fail(ValidationError.single("cursor", "is not a cursor this server returned"))
                    : Effect.fail(e),
              ),
            )
            const page = yield* readBefore(yield* deadline, listing)
            return { items: page.items, nextCursor: page.nextCursor }
          }),
        }
      }),
    )
}
