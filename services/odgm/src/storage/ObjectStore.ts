import { Context, type Effect, Layer, type Option } from "effect"
import type { NotFound, VersionConflict } from "@oprc/models"
import type { ObjectRef, ObjectState, StoredObject } from "../domain/types.ts"
import type { StorageError } from "./errors.ts"
import { makeMemoryStore } from "./memory/MemoryStore.ts"
import { makeSqliteStore, type SqliteOptions } from "./sqlite/SqliteStore.ts"
import { makeNatsStore, type NatsOptions } from "./nats/NatsStore.ts"

export { StorageError } from "./errors.ts"
export type { SqliteOptions } from "./sqlite/SqliteStore.ts"
export type { NatsOptions } from "./nats/NatsStore.ts"

/**
 * The ODGM data-plane storage contract. Three engines implement it with identical semantics
 * (checked by one conformance suite, services/odgm/test/storage/conformance.ts):
 *
 * - `ObjectStoreService.layerMemory`: Maps in the process (tests, `oprc dev --memory`).
 * - `ObjectStoreService.layerSqlite({ path })`: the embedded default. WAL, synchronous=FULL, group
 *   commit: an acknowledged commit is on disk.
 * - `ObjectStoreService.layerNats({ servers, replicas })`: JetStream KV, one bucket per class,
 *   revision compare-and-swap, outbox on a JetStream stream. Several ODGM processes may share it.
 *
 * Guarantees every engine gives (what the rest of ODGM may rely on):
 * 1. `commit` is atomic compare-and-swap of ONE object together with the outbox events that
 *    write produced: the events become claimable iff the write committed. A trigger is never lost
 *    and never fires for a write that did not commit.
 * 2. An acknowledged commit is durable (survives a process kill, and a node kill on NATS R3).
 * 3. The store assigns `version` (1 on create, +1 per commit; a delete-then-create restarts at 1),
 *    `createdAt` (kept from the previous version) and `updatedAt` (the store's Clock).
 * 4. Outbox delivery is at-least-once: `claimEvents` leases due events; the caller `ackEvent`s
 *    after delivery, `retryEvent`s with a new time, or `deadLetter`s after its max attempts. A lease
 *    that expires makes the event claimable again (attempts + 1). Consumers must be idempotent on
 *    `event.id`. Nothing is dropped silently: dead letters stay until `redrive` or `discard`.
 * 5. Exactly-once: a commit may carry an `InvocationRecord`; it is stored atomically with the
 *    write (same SQLite transaction; same NATS KV message), and `getInvoked` finds it from then on
 *    until its TTL passes. Whoever sees it must not apply that invocation again.
 * 6. Results: a non-final result (`putResult(..., false)`) never replaces a final one.
 * 7. Errors: `VersionConflict` (re-read and retry), `StorageError` with `retryable` (map true to
 *    Unavailable / 503), `NotFound` for unknown dead letters.
 *
 * Engine differences the caller may notice (none breaks the guarantees):
 * - NATS rides out a leader election (5-7 s on nats-server 2.9) inside each call, up to
 *   `failoverBudget` (15 s), then answers `StorageError { retryable: true }`; expect such stalls.
 * - NATS list() reads a node-local key index kept current by a watch on the bucket (see NatsStore).
 * - NATS R1 acknowledges before fsync (docs/storage-engines.md §2.6); R3 acknowledges after a quorum.
 * - NATS `attempts` also counts one early delivery of an event committed with a future `availableAt`.
 * - A result's TTL is capped by `NatsOptions.maxResultTtlMs` (24 h) on NATS.
 */

export interface OutboxEvent {
  /** Unique: the idempotency key consumers dedupe on (and the NATS publish msgID). */
  readonly id: string
  /** JSON, opaque to storage. */
  readonly payload: unknown
  /** Epoch ms before which the event is not claimable. */
  readonly availableAt: number
}

export interface CommitRequest {
  readonly ref: ObjectRef
  /** The new state; `null` deletes the object. */
  readonly next: ObjectState | null
  /**
   * `undefined`: unconditional. `0n`: the object must not exist. `n`: it must be at version `n`.
   * A mismatch fails with `VersionConflict` and writes nothing (no events either).
   * Deleting an object that does not exist succeeds (the events are still recorded) unless an
   * `expectedVersion >= 1n` was given.
   */
  readonly expectedVersion: bigint | undefined
  /** Recorded atomically with the write. Ids must be unique across the store. */
  readonly events: ReadonlyArray<OutboxEvent>
  /** The invocation this write applies, recorded with it (see guarantee 5). */
  readonly invocation?: InvocationRecord
}

/** The outcome of an invocation, stored under its id in the results. */
export interface InvocationRecord {
  readonly id: string
  /** JSON, opaque to storage. */
  readonly result: unknown
  readonly ttlMs: number
  /**
   * Final: the invocation is applied (or finished); `getInvoked` reports it and nothing
   * non-final replaces it. Non-final (an accepted async job): NATS stores it just after the commit,
   * not inside it.
   */
  readonly final: boolean
}

/** What `getInvoked` found: the object, and the final record of the invocation if there is one. */
interface Invoked {
  readonly object: Option.Option<StoredObject>
  readonly recorded: Option.Option<unknown>
}

interface ListQuery {
  readonly cls: string
  /** Absent: every partition. */
  readonly partition?: number
  /** Id prefix (plain string prefix, not a pattern). */
  readonly prefix?: string
  /** 1..1000. */
  readonly limit: number
  /** `nextCursor` of the previous page. */
  readonly cursor?: string
}

interface ListPage {
  /** Ordered by (partition, id), ids compared as UTF-8 bytes. */
  readonly items: ReadonlyArray<StoredObject>
  /** Present iff more items may follow. */
  readonly nextCursor?: string
}

/** One lease on an event, from `claimEvents`; hand it back to ack/retry/deadLetter. */
export interface ClaimedEvent {
  readonly event: OutboxEvent
  /** Delivery attempts including this one (1 on the first claim). */
  readonly attempts: number
  /** Identifies this lease; a stale lease (expired and claimed again) cannot retry or dead-letter. */
  readonly claimToken: string
}

export interface DeadLetter {
  readonly event: OutboxEvent
  readonly attempts: number
  readonly error: string
  readonly deadAt: number
}

export interface DeadLetterPage {
  readonly items: ReadonlyArray<DeadLetter>
  readonly nextCursor?: string
}

export interface ObjectStore {
  /**
   * `get` and `getInvoked` answer within the calling step (bun:sqlite, memory: no I/O wait), so no
   * timer could cut them: a caller checks its deadline once instead of racing a timer per read
   * (readBefore). Engines that wait on the network (NATS) leave it unset.
   */
  readonly inlineGets?: boolean
  readonly get: (ref: ObjectRef) => Effect.Effect<Option.Option<StoredObject>, StorageError>
  /**
   * The object and the final record of `invocationId` committed with a write of `ref` (or of the
   * class's invocation slot, `invocationSlot`), or stored by a final `putResult`.
   */
  readonly getInvoked: (ref: ObjectRef, invocationId: string) => Effect.Effect<Invoked, StorageError>
  /** Atomic CAS commit of one object plus its outbox events; returns what was stored (`null` after a delete). */
  readonly commit: (req: CommitRequest) => Effect.Effect<StoredObject | null, VersionConflict | StorageError>
  readonly list: (q: ListQuery) => Effect.Effect<ListPage, StorageError>
  /** Deletes every object of the class; returns how many. Events already recorded stay deliverable. */
  readonly deleteClass: (cls: string) => Effect.Effect<number, StorageError>

  /** Leases up to `max` due events for `leaseMs`, or each for its own lease (at-least-once; see guarantee 4). */
  readonly claimEvents: (
    max: number,
    leaseMs: number | ((event: OutboxEvent) => number),
  ) => Effect.Effect<ReadonlyArray<ClaimedEvent>, StorageError>
  /** Still working on it: the lease ends `leaseMs` from now instead. Ignored for a stale lease. */
  readonly renewEvent: (claim: ClaimedEvent, leaseMs: number) => Effect.Effect<void, StorageError>
  /** Delivered: remove the event. Idempotent; also accepted on an expired lease. */
  readonly ackEvent: (claim: ClaimedEvent) => Effect.Effect<void, StorageError>
  /** Not delivered: make it claimable again at `availableAt`. Ignored for a stale lease. */
  readonly retryEvent: (claim: ClaimedEvent, availableAt: number, error: string) => Effect.Effect<void, StorageError>
  /** Give up: move the event to the dead letters with the error. Ignored for a stale lease. */
  readonly deadLetter: (claim: ClaimedEvent, error: string) => Effect.Effect<void, StorageError>
  /** Dead letters ordered by event id. */
  readonly listDeadLetters: (
    q: { readonly limit: number; readonly cursor?: string },
  ) => Effect.Effect<DeadLetterPage, StorageError>
  /** Put a dead letter back in the outbox, due now, attempts reset to 0. */
  readonly redrive: (eventId: string) => Effect.Effect<void, NotFound | StorageError>
  readonly discard: (eventId: string) => Effect.Effect<void, NotFound | StorageError>

  /** Invocation results: kept for `ttlMs`, then gone. A non-final one never replaces a final one. */
  readonly putResult: (id: string, result: unknown, ttlMs: number, final: boolean) => Effect.Effect<void, StorageError>
  readonly getResult: (id: string) => Effect.Effect<Option.Option<unknown>, StorageError>

  /** Succeeds when the store can serve (for /readyz). */
  readonly ready: Effect.Effect<void, StorageError>
}

/** The ODGM object store (memory, SQLite or NATS JetStream KV; see the file header). */
export class ObjectStoreService extends Context.Service<ObjectStoreService, ObjectStore>()("oprc/odgm/ObjectStore") {
  static readonly layerMemory: Layer.Layer<ObjectStoreService> = Layer.effect(ObjectStoreService)(makeMemoryStore)
  static readonly layerSqlite = (options: SqliteOptions): Layer.Layer<ObjectStoreService, StorageError> =>
    Layer.effect(ObjectStoreService)(makeSqliteStore(options))
  static readonly layerNats = (options: NatsOptions): Layer.Layer<ObjectStoreService, StorageError> =>
    Layer.effect(ObjectStoreService)(makeNatsStore(options))
}
