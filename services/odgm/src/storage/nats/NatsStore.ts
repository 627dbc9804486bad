import { Clock, Duration, Effect, Option, Pull, Schedule, type Scope } from "effect"
import { connect } from "@nats-io/transport-node"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { type KvEntry, Kvm } from "@nats-io/kv"
import { tracedFn } from "@oprc/observability"
import type { ObjectRef, StoredObject } from "../../domain/types.ts"
import type { CommitRequest, ObjectStore, OutboxEvent } from "../ObjectStore.ts"
import { StorageError } from "../errors.ts"
import {
  decide,
  decodeCursor,
  encodeCursor,
  fromJson,
  invocationSlot,
  newToken,
  toJson,
  validateLimit,
} from "../common.ts"
import {
  type Applied,
  type Body,
  type Bucket,
  isNotFound,
  makeBuckets,
  type NatsContext,
  writeHeaders,
} from "./Buckets.ts"
import { makeKeyIndex } from "./KeyIndex.ts"
import { makeOutbox } from "./NatsOutbox.ts"
import { backoff, call, decodeJson, objectKey, plainKey, retrying, toStorageError } from "./client.ts"

/**
 * The distributed engine: NATS JetStream KV, one bucket per class (R1 or R3), key
 * `<partition>.<base64url(id)>`. Commit = read the key, decide the CAS on our own `version`
 * (the KV revision is per-bucket, not per-object), publish with Nats-Expected-Last-Subject-
 * Sequence = the revision read. The outbox rides in the same message (Buckets.ts says why that
 * cannot lose or invent events). Several ODGM processes may share the buckets.
 *
 * Compare-and-swap needs TWO guards on nats-server 2.9.10. Nats-Expected-Last-Subject-Sequence
 * alone is checked by a clustered (R3) leader against the APPLIED state only: 8 concurrent
 * publishes expecting the same revision were all accepted in 99 of 100 rounds (measured here), so
 * concurrent increments lost updates. The stream's msgID dedupe does account for in-flight
 * proposals, so every write also carries msgID "<key>@<revision it replaces>": of several writers
 * that read the same revision exactly one is stored, the others get `duplicate` = conflict (0 of
 * 100 rounds with two winners). A revision is a stream sequence, replaced at most once, so the
 * msgID never recurs for a legitimate write; a writer stale for longer than the 2 min dedupe
 * window is caught by the header, because whatever replaced its revision is applied by then.
 *
 * Failover (docs/storage-engines.md §2, Failover): without a stream leader calls fail fast ("jetstream not enabled")
 * and are retried with backoff for `failoverBudget` (15 s); a publish that times out is
 * ambiguous, so its write id is remembered and the next read checks `ws` (the last 16 write ids
 * in the value) to learn whether it landed before deciding anything else.
 *
 * list() reads a node-local sorted index of the class's keys (KeyIndex.ts: built once from a
 * headers-only watch, kept current by it): a page costs a binary search plus reading its values.
 */

export interface NatsOptions {
  readonly servers: ReadonlyArray<string>
  readonly replicas: 1 | 3
  /** Namespaces the buckets and streams (`[A-Za-z0-9_-]`); default "oprc". */
  readonly bucketPrefix?: string
  readonly timeoutMs?: number
  readonly failoverBudget?: Duration.Input
  /** Results bucket max age; `putResult` TTLs above it are cut to it. Default 24 h. */
  readonly maxResultTtlMs?: number
}

const MAX_PENDING_EVENTS = 5_000
const RECENT_WRITES = 16
/** Invocation records kept inside an object's value; beyond, the oldest EVICT move to the results bucket. */
const RING = 48
const EVICT = 16
const RING_BYTES = 256 * 1024

const empty: Body = { ws: [], ev: [] }
const parseBody = (entry: KvEntry | null): Effect.Effect<Body, StorageError> =>
  entry && entry.value.length > 0 ? decodeJson<Body>("read", entry.value) : Effect.succeed(empty)
const objectOf = (ref: ObjectRef, entry: KvEntry | null, body: Body): StoredObject | undefined =>
  entry?.operation === "PUT" && body.o ? fromJson(ref, body.o) : undefined

export const makeNatsStore = (options: NatsOptions): Effect.Effect<ObjectStore, StorageError, Scope.Scope> =>
  Effect.gen(function*() {
    const prefix = options.bucketPrefix ?? "oprc"
    const timeoutMs = options.timeoutMs ?? 2_000
    const budget = Duration.fromInputUnsafe(options.failoverBudget ?? "15 seconds")
    const maxTtl = options.maxResultTtlMs ?? 86_400_000
    const nc = yield* Effect.acquireRelease(
      retrying(
        "connect",
        () =>
          connect({
            servers: [...options.servers],
            name: "oprc-odgm",
            maxReconnectAttempts: -1,
            reconnectTimeWait: 250,
          }),
        { budget, idempotent: true },
      ),
      (nc) => Effect.promise(() => nc.close()),
    )
    const ctx: NatsContext = {
      nc,
      js: jetstream(nc, { timeout: timeoutMs }),
      jsm: yield* retrying("jetstream", () => jetstreamManager(nc, { timeout: timeoutMs, checkAPI: false }), {
        budget,
        idempotent: true,
      }),
      prefix,
      replicas: options.replicas,
      timeoutMs,
      budget,
      outboxSubject: `${prefix}.outbox`,
    }
    const idem = { budget, idempotent: true }
    // Independent streams: created concurrently (each R3 stream is a raft group to elect).
    const [buckets, outbox, results] = yield* Effect.all([
      makeBuckets(ctx),
      makeOutbox(ctx),
      retrying(
        "results.bucket",
        () =>
          new Kvm(ctx.js).create(`${prefix}_results`, {
            replicas: options.replicas,
            history: 1,
            ttl: maxTtl,
            allow_direct: false,
            timeout: timeoutMs,
          }),
        idem,
      ),
    ], { concurrency: "unbounded" })

    const index = yield* makeKeyIndex({ budget })

    // A bucket destroyed by another process (deleteClass) reads as empty, and is forgotten here
    // so the next write recreates it instead of publishing to a stream that is gone.
    const read = (b: Bucket, key: string): Effect.Effect<KvEntry | null, StorageError> =>
      call("get", () => b.kv.get(key)).pipe(
        Effect.catchIf(
          (e) => e.failure._tag === "Fatal" && isNotFound(e.failure.cause),
          () => Effect.as(buckets.forget(b), null),
        ),
        Effect.retry({
          schedule: backoff.pipe(Schedule.upTo({ duration: budget })),
          while: (e) => e.failure._tag !== "Fatal",
        }),
        Effect.mapError(toStorageError),
      )
    // Results bucket values: {v: result, x: expiry, f: final}.
    interface ResultValue {
      readonly v: unknown
      readonly x: number
      readonly f?: boolean
    }
    const putFinal = (id: string, value: unknown, expiresAt: number) =>
      retrying(
        "putResult",
        () => results.put(plainKey(id), JSON.stringify({ v: value ?? null, x: expiresAt, f: true })),
        idem,
      )
    /** The stored result, expired or not (a KV entry outlives its `x` until the bucket's max age). */
    const readRaw = (id: string) =>
      Effect.gen(function*() {
        const entry = yield* retrying("getResult", () => results.get(plainKey(id)), idem)
        if (!entry || entry.operation !== "PUT" || entry.value.length === 0) {
          return entry
            ? { value: undefined, revision: entry.revision }
            : undefined
        }
        return { value: yield* decodeJson<ResultValue>("getResult", entry.value), revision: entry.revision }
      })
    const readResult = (id: string) =>
      Effect.gen(function*() {
        const raw = yield* readRaw(id)
        return raw?.value && raw.value.x > (yield* Clock.currentTimeMillis) ? { value: raw.value } : undefined
      })
    /** A non-final result never replaces a live final one: compare-and-swap on the results key. */
    const putNonFinal = (id: string, value: unknown, expiresAt: number) =>
      Effect.gen(function*() {
        const body = JSON.stringify({ v: value ?? null, x: expiresAt })
        for (let round = 0; round < 8; round++) {
          const found = yield* readRaw(id)
          if (found?.value?.f && found.value.x > (yield* Clock.currentTimeMillis)) return
          const put = yield* call(
            "putResult",
            () => (found ? results.update(plainKey(id), body, found.revision) : results.create(plainKey(id), body)),
          ).pipe(Effect.result)
          if (put._tag === "Success") return
          // Conflict (JetStream 10071, also create() on a live key): someone wrote first; look again.
          if (put.failure.failure._tag !== "Conflict") return yield* toStorageError(put.failure)
        }
        return yield* new StorageError({ operation: "putResult", reason: "the result kept changing", retryable: true })
      })

    /** The ring after adding `invocation`: expired records dropped, the oldest copied out when it is full. */
    const nextRing = (ring: ReadonlyArray<Applied>, invocation: CommitRequest["invocation"], now: number) =>
      Effect.gen(function*() {
        let out = ring.filter((a) => a.x > now && a.i !== invocation?.id)
        if (invocation?.final) out.push({ i: invocation.id, r: invocation.result, x: now + invocation.ttlMs })
        const tooBig = () => out.length > 1 && JSON.stringify(out).length > RING_BYTES
        if (out.length > RING || tooBig()) {
          let n = Math.min(EVICT, out.length - 1)
          while (n < out.length - 1 && JSON.stringify(out.slice(n)).length > RING_BYTES) n++
          const evicted = out.slice(0, n)
          // Copied before the message that drops them is published: a record is never only nowhere.
          yield* Effect.forEach(evicted, (a) => putFinal(a.i, a.r, a.x), { concurrency: "unbounded", discard: true })
          out = out.slice(n)
        }
        return out
      })

    const readBody = (ref: ObjectRef) =>
      Effect.gen(function*() {
        const b = yield* buckets.bucket(ref.cls, false)
        if (!b || ref.id.length === 0) return { entry: null, body: empty }
        const entry = yield* read(b, objectKey(ref.partition, ref.id))
        return { entry, body: yield* parseBody(entry) }
      })

    const getInvoked: ObjectStore["getInvoked"] = tracedFn("NatsStore.getInvoked")(function*(ref, invocationId) {
      const slot = invocationSlot(ref.cls, invocationId)
      const [own, viaSlot, bucketed] = yield* Effect.all([
        readBody(ref),
        slot.id === ref.id ? Effect.succeed({ entry: null, body: empty }) : readBody(slot),
        readResult(invocationId),
      ], { concurrency: "unbounded" })
      const now = yield* Clock.currentTimeMillis
      const inRing = [...(own.body.ap ?? []), ...(viaSlot.body.ap ?? [])].find((a) => a.i === invocationId && a.x > now)
      const recorded = inRing
        ? Option.some(inRing.r)
        : bucketed?.value.f
        ? Option.some(bucketed.value.v)
        : Option.none()
      return { object: Option.fromNullishOr(objectOf(ref, own.entry, own.body)), recorded }
    })

    const unavailable = (operation: string) =>
      new StorageError({
        operation,
        reason: "NATS JetStream did not answer within the failover budget",
        retryable: true,
      })

    const commit: ObjectStore["commit"] = tracedFn("NatsStore.commit")(function*(req) {
      if (req.ref.id.length === 0) {
        return yield* new StorageError({ operation: "commit", reason: "empty object id", retryable: false })
      }
      const key = objectKey(req.ref.partition, req.ref.id)
      const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(budget)
      // Write ids of publishes whose outcome is unknown, and what each would have stored.
      const ambiguous = new Map<string, StoredObject | null>()
      // The failover backoff (client.ts) after a round NATS was in trouble; a lost race re-reads at
      // once (the answer is usually a VersionConflict the caller is waiting for).
      const pause = yield* Schedule.toStepWithSleep(backoff)
      let troubled = false
      for (;;) {
        const now = yield* Clock.currentTimeMillis
        if (now > deadline) return yield* unavailable("commit")
        // The backoff never ends, so its "done" cannot happen; the budget above bounds the loop.
        if (troubled) yield* Pull.catchDone(pause(undefined), () => Effect.void)
        // Resolved on every round: the bucket may have been destroyed and recreated meanwhile.
        const b = (yield* buckets.bucket(req.ref.cls, true))!
        const entry = yield* read(b, key)
        const body = yield* parseBody(entry)
        const landed = body.ws.find((w) => ambiguous.has(w))
        if (landed !== undefined) {
          if (req.invocation && !req.invocation.final) {
            yield* putNonFinal(req.invocation.id, req.invocation.result, now + req.invocation.ttlMs)
          }
          return ambiguous.get(landed)!
        }
        const d = decide(objectOf(req.ref, entry, body), req, now)
        if (d._tag === "Conflict") return yield* d.error
        const revision = entry?.revision ?? 0
        if (
          d.stored === null && (entry === null || entry.operation !== "PUT") && req.events.length === 0 &&
          !req.invocation?.final
        ) {
          if (req.invocation) yield* putNonFinal(req.invocation.id, req.invocation.result, now + req.invocation.ttlMs)
          return null
        }
        // Carry the previous value's events unless the relay is known to be past it (Buckets.ts).
        const carry = body.ev.length > 0 && revision > (yield* buckets.relayFloor(b, revision)) ? body.ev : []
        const ev = dedupe([...carry, ...req.events])
        if (ev.length > MAX_PENDING_EVENTS) {
          return yield* new StorageError({
            operation: "commit",
            reason: "the outbox relay is behind on this object; retry later",
            retryable: true,
          })
        }
        const ap = yield* nextRing(body.ap ?? [], req.invocation, now)
        const writeId = yield* newToken
        const next: Body = {
          ...(d.stored ? { o: { ...toJson(d.stored), i: req.ref.id } } : {}),
          ws: [...body.ws, writeId].slice(-RECENT_WRITES),
          ev,
          ...(ap.length > 0 ? { ap } : {}),
        }
        // msgID "<key>@<revision replaced>": see the header; the JetStream dedupe makes it the real CAS on R3.
        const sent = yield* call(
          "commit",
          () =>
            ctx.js.publish(b.subject(key), JSON.stringify(next), {
              headers: writeHeaders(revision, d.stored === null),
              msgID: `${key}@${revision}`,
              timeout: timeoutMs,
            }),
        ).pipe(Effect.result)
        // A duplicate or a Conflict: someone replaced that revision first; re-read and re-decide.
        if (sent._tag === "Success") {
          if (sent.success.duplicate) continue
          index.note(b, key, sent.success.seq, d.stored === null, req.ref.id)
          // An accepted job's PENDING record is not part of the message (see InvocationRecord.final).
          if (req.invocation && !req.invocation.final) {
            yield* putNonFinal(req.invocation.id, req.invocation.result, now + req.invocation.ttlMs)
          }
          return d.stored
        }
        const failure = sent.failure.failure
        if (failure._tag === "Fatal") return yield* toStorageError(sent.failure)
        if (failure._tag === "Ambiguous") ambiguous.set(writeId, d.stored)
        troubled = failure._tag !== "Conflict"
      }
    })

    const list: ObjectStore["list"] = tracedFn("NatsStore.list")(function*(q) {
      const limit = yield* validateLimit("list", q.limit)
      const after = yield* decodeCursor("list", q.cursor)
      const b = yield* buckets.bucket(q.cls, false)
      if (!b) return { items: [] }
      const candidates = yield* index.page(b, {
        partition: q.partition,
        prefix: q.prefix ?? "",
        after,
        want: limit + 1,
      })
      const page = candidates.slice(0, limit)
      const loaded = yield* Effect.forEach(page, (k) =>
        Effect.gen(function*() {
          const e = yield* read(b, k.key)
          return objectOf({ cls: q.cls, partition: k.partition, id: k.id }, e, yield* parseBody(e)) ?? []
        }), { concurrency: 64 }) // gets are pipelined on the one connection
      const items = loaded.flat()
      const last = page[page.length - 1]
      return candidates.length > limit && last ? { items, nextCursor: encodeCursor(last) } : { items }
    })

    const store: ObjectStore = {
      get: tracedFn("NatsStore.get")(function*(ref) {
        const b = yield* buckets.bucket(ref.cls, false)
        if (!b || ref.id.length === 0) return Option.none()
        const entry = yield* read(b, objectKey(ref.partition, ref.id))
        return Option.fromNullishOr(objectOf(ref, entry, yield* parseBody(entry)))
      }),
      commit,
      list,
      deleteClass: tracedFn("NatsStore.deleteClass")(function*(cls) {
        const b = yield* buckets.bucket(cls, false)
        if (!b) return 0
        const count = yield* retrying("deleteClass", async () => {
          let n = 0
          for await (const _ of await b.kv.keys()) n++
          return n
        }, idem)
        // Events already committed must reach the OUTBOX before their bucket disappears.
        if (!(yield* buckets.drained(b))) {
          return yield* new StorageError({
            operation: "deleteClass",
            reason: "the outbox relay has not caught up; retry later",
            retryable: true,
          })
        }
        yield* buckets.forget(b)
        yield* index.drop(b)
        yield* retrying("deleteClass", () => b.kv.destroy(), idem)
        return count
      }),
      ...outbox,
      getInvoked,
      putResult: tracedFn("NatsStore.putResult")(function*(id, result, ttlMs, final) {
        const expiresAt = (yield* Clock.currentTimeMillis) + Math.min(ttlMs, maxTtl)
        yield* final ? putFinal(id, result, expiresAt) : putNonFinal(id, result, expiresAt)
      }),
      getResult: tracedFn("NatsStore.getResult")(function*(id) {
        const found = yield* readResult(id)
        return found ? Option.some(found.value.v) : Option.none()
      }),
      ready: call("ready", () => ctx.jsm.getAccountInfo()).pipe(Effect.asVoid, Effect.mapError(toStorageError)),
    }
    return store
  })

const dedupe = (events: ReadonlyArray<OutboxEvent>) => [...new Map(events.map((e) => [e.id, e])).values()]
