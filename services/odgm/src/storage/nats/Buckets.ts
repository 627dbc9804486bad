import { Clock, Deferred, type Duration, Effect, Fiber, type Scope } from "effect"
import { headers, type Msg, type NatsConnection } from "@nats-io/transport-node"
import { AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager, StorageType } from "@nats-io/jetstream"
import { type KV, Kvm } from "@nats-io/kv"
import type { OutboxEvent } from "../ObjectStore.ts"
import type { StorageError } from "../errors.ts"
import type { ObjectJson } from "../common.ts"
import { call, decodeJson, objectBucket, objectBucketStreamPrefix, pull, retrying } from "./client.ts"

/**
 * One KV bucket per class, and the relay that moves each committed write's events from the
 * bucket's own stream to the OUTBOX stream.
 *
 * Why no event is lost or invented: a commit is ONE message on the bucket stream (a CAS publish
 * with Nats-Expected-Last-Subject-Sequence) whose body carries the object AND the events of that
 * write (`Body.ev`). A write that did not commit left no message, so it has no events; a write
 * that committed has its events inside it. The relay is a durable pull consumer on the bucket
 * stream: for every message it publishes the events with msgID = event id (OUTBOX dedupes) and
 * only then acks, so a crash re-relays (duplicates are deduped), never skips. One hole remains:
 * the bucket keeps only the last message per key (history 1), so a newer write can replace a
 * message before the relay saw it. Hence every writer carries the previous value's `ev` forward
 * into its own message unless the relay's ack floor (a lower bound read from the consumer, so
 * stale means "carry more") already covers the previous revision. Carried events are relayed
 * again with the same msgID, so they are deduped, not doubled, within the 2 min window.
 */

/** A value in an object bucket. A delete is a KV DEL marker that still carries `ev` and `ws`. */
export interface Body {
  /** The object; absent in a delete marker. */
  readonly o?: ObjectJson & { readonly i: string }
  /** Ids of the last writes (newest last): resolves an ambiguous publish after a timeout. */
  readonly ws: ReadonlyArray<string>
  /** Events not yet known to be relayed: this write's plus carried ones. */
  readonly ev: ReadonlyArray<OutboxEvent>
  /**
   * Final invocation records committed with this key's writes (newest last), so a record is in
   * the same message as the write it belongs to. Bounded: the oldest are copied to the results
   * bucket before they are dropped from here (NatsStore.ts).
   */
  readonly ap?: ReadonlyArray<Applied>
}

/** One invocation record inside an object's value: id, result, expiry (epoch ms). */
export interface Applied {
  readonly i: string
  readonly r: unknown
  readonly x: number
}

export interface Bucket {
  readonly name: string
  readonly stream: string
  readonly kv: KV
  readonly subject: (key: string) => string
}

export interface NatsContext {
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly prefix: string
  readonly replicas: number
  readonly timeoutMs: number
  /** How long to ride out a failover before answering Unavailable. */
  readonly budget: Duration.Duration
  readonly outboxSubject: string
}

const RELAY = "relay"
const RELAY_ACK_WAIT_MS = 5_000
const nanos = (ms: number) => ms * 1_000_000

export const makeBuckets = (ctx: NatsContext) =>
  Effect.gen(function*() {
    const kvm = new Kvm(ctx.js)
    const open = new Map<string, Bucket>()
    const relays = new Map<string, Fiber.Fiber<void, never>>()
    const floors = new Map<string, { value: number; at: number }>()
    const refreshing = new Map<string, Deferred.Deferred<number>>()
    const scope = yield* Effect.scope

    const handle = (name: string, kv: KV): Bucket => ({
      name,
      stream: `KV_${name}`,
      kv,
      subject: (key) => `$KV.${name}.${key}`,
    })

    const ensureRelayConsumer = (b: Bucket) =>
      retrying("relay.consumer", async () => {
        const exists = await ctx.jsm.consumers.info(b.stream, RELAY).then(
          () => true,
          (e: unknown) => (isNotFound(e) ? false : Promise.reject(e)),
        )
        if (!exists) {
          await ctx.jsm.consumers.add(b.stream, {
            durable_name: RELAY,
            ack_policy: AckPolicy.Explicit,
            deliver_policy: DeliverPolicy.All,
            filter_subject: `$KV.${b.name}.>`,
            ack_wait: nanos(RELAY_ACK_WAIT_MS),
            max_deliver: -1,
            max_ack_pending: 10_000,
          })
        }
      }, { budget: ctx.budget, idempotent: true })

    /** The bucket of `cls`; created (with its relay consumer) if `create`, else undefined when absent. */
    const bucket = (cls: string, create: boolean): Effect.Effect<Bucket | undefined, StorageError> =>
      Effect.gen(function*() {
        const name = objectBucket(ctx.prefix, cls)
        const cached = open.get(name)
        if (cached) return cached
        const exists = yield* retrying("bucket.info", () =>
          ctx.jsm.streams.info(`KV_${name}`).then(() =>
            true, (e: unknown) => (isNotFound(e) ? false : Promise.reject(e))), {
          budget: ctx.budget,
          idempotent: true,
        })
        if (!exists && !create) {
          return undefined
        }
        // Direct gets are off: a follower could serve a stale value right after an acknowledged write.
        const kv = yield* retrying("bucket.create", () =>
          kvm.create(name, {
            replicas: ctx.replicas,
            history: 1,
            allow_direct: false,
            storage: StorageType.File,
            timeout: ctx.timeoutMs,
          }), { budget: ctx.budget, idempotent: true })
        const b = handle(name, kv)
        // The relay consumer must exist before the first write, or that write's events could be missed.
        yield* ensureRelayConsumer(b)
        open.set(name, b)
        yield* startRelay(b)
        return b
      })

    /**
     * Relay ack floor: every message of the bucket stream at or below it has had its events relayed.
     * A cached value is a valid lower bound; concurrent writers share one refresh in flight.
     */
    const relayFloor = (b: Bucket, atLeast: number): Effect.Effect<number> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const known = floors.get(b.name)
        if (known && (known.value >= atLeast || now - known.at < 20)) {
          return known.value
        }
        const running = refreshing.get(b.name)
        if (running) {
          return yield* Deferred.await(running)
        }
        const done = yield* Deferred.make<number>()
        refreshing.set(b.name, done)
        const info = yield* call("relay.info", () =>
          ctx.jsm.consumers.info(b.stream, RELAY)).pipe(Effect.option)
        const value = info._tag === "Some" ? info.value.ack_floor.stream_seq : known?.value ?? 0
        floors.set(b.name, { value, at: yield* Clock.currentTimeMillis })
        refreshing.delete(b.name)
        yield* Deferred.succeed(done, value)
        return value
      }).pipe(Effect.uninterruptible)

    const publishEvents = (events: ReadonlyArray<OutboxEvent>) =>
      Effect.forEach(events, (e) =>
        retrying("relay.publish", () =>
          ctx.js.publish(ctx.outboxSubject, JSON.stringify(e), { msgID: e.id, timeout: ctx.timeoutMs }), {
          budget: ctx.budget,
          idempotent: true,
        }), { concurrency: 16, discard: true })

    const relayOne = (m: Msg) =>
      Effect.gen(function*() {
        const body = m.data.length > 0 ? yield* decodeJson<Partial<Body>>("relay", m.data) : {}
        yield* publishEvents(body.ev ?? [])
        m.respond("+ACK")
      }).pipe(
        // Not acked: redelivered after the relay ack wait. Never skipped.
        Effect.catch((e: StorageError) =>
          Effect.logWarning(`relay of ${m.subject} failed; it will be redelivered`, e)
        ),
      )

    // A relay whose bucket was destroyed (deleteClass, maybe by another process) must stop.
    const gone = (b: Bucket) =>
      call("relay.gone", () =>
        ctx.jsm.streams.info(b.stream)).pipe(
          Effect.as(false),
          Effect.catch((e) =>
            Effect.succeed(e.failure._tag === "Fatal" && isNotFound(e.failure.cause))
          ),
        )

    const relayLoop = (b: Bucket) =>
      Effect.gen(function*() {
        // Sweep what is there, or long-poll for the next write.
        let msgs = yield* call("relay.pull", () =>
          pull(ctx.nc, b.stream, RELAY, 256))
        if (msgs.length === 0) {
          msgs = yield* call("relay.pull", () =>
            pull(ctx.nc, b.stream, RELAY, 1, 1_000))
        }
        yield* Effect.forEach(msgs, relayOne, { concurrency: 64, discard: true })
      }).pipe(
        Effect.catch((e) =>
          e.failure._tag === "Fatal"
            ? Effect.fail(e)
            : Effect.flatMap(gone(b), (g) => (g ? Effect.fail(e) : Effect.sleep("200 millis")))
        ),
        Effect.forever,
        // The bucket was destroyed (deleteClass) or the consumer is gone: stop relaying it, and
        // drop the handle so the next write to the class creates a fresh bucket.
        Effect.catch((e) =>
          Effect.logInfo(`relay for ${b.name} stopped`, e.failure)
        ),
        Effect.ensuring(Effect.sync(() => {
          relays.delete(b.name)
          if (open.get(b.name) === b) open.delete(b.name)
        })),
      )

    const startRelay = (b: Bucket) =>
      Effect.gen(function*() {
        if (relays.has(b.name)) return
        relays.set(b.name, yield* Effect.forkIn(relayLoop(b), scope))
      })

    // Buckets created by other ODGM processes need a relay here too (work is shared on the durable).
    const discover = Effect.gen(function*() {
      const names = yield* call("bucket.list", async () => {
        const out: string[] = []
        for await (const n of ctx.jsm.streams.names()) {
          if (n.startsWith(objectBucketStreamPrefix(ctx.prefix))) out.push(n)
        }
        return out
      })
      for (const stream of names) {
        const name = stream.slice(3)
        if (open.has(name)) continue
        const kv = yield* call("bucket.open", () => kvm.open(name, { timeout: ctx.timeoutMs }))
        const b = handle(name, kv)
        open.set(name, b)
        yield* startRelay(b)
      }
    }).pipe(Effect.catch(() => Effect.void))
    yield* discover
    yield* discover.pipe(Effect.delay("5 seconds"), Effect.forever, Effect.forkScoped)

    /** Waits until the relay has passed every message of the bucket (before destroying it). */
    const drained = (b: Bucket) =>
      Effect.gen(function*() {
        const info = yield* retrying("bucket.info", () => ctx.jsm.streams.info(b.stream), {
          budget: ctx.budget,
          idempotent: true,
        })
        const last = info.state.last_seq
        for (let i = 0; i < 200; i++) {
          floors.delete(b.name)
          if ((yield* relayFloor(b, last)) >= last) return true
          yield* Effect.sleep("50 millis")
        }
        return false
      })

    const forget = (b: Bucket) =>
      Effect.gen(function*() {
        if (open.get(b.name) === b) open.delete(b.name)
        floors.delete(b.name)
        const relay = relays.get(b.name)
        if (relay) yield* Fiber.interrupt(relay)
      })

    return { bucket, relayFloor, drained, forget }
  }) satisfies Effect.Effect<unknown, unknown, Scope.Scope>

export const isNotFound = (e: unknown) => e instanceof Error && /not found/i.test(e.message)

/** Headers of a CAS write: expected last revision of the key, and KV-Operation DEL for deletes. */
export const writeHeaders = (previousRevision: number, isDelete: boolean) => {
  const h = headers()
  h.set("Nats-Expected-Last-Subject-Sequence", String(previousRevision))
  if (isDelete) h.set("KV-Operation", "DEL")
  return h
}
