import { Clock, Effect, Option } from "effect"
import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType } from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import { NotFound } from "@oprc/models"
import { tracedFn } from "@oprc/observability"
import type { ClaimedEvent, DeadLetter, ObjectStore, OutboxEvent } from "../ObjectStore.ts"
import { compareIds, leaseOf, validateLimit } from "../common.ts"
import { call, decodeJson, deliveryCount, plainKey, pull, retrying, toStorageError } from "./client.ts"
import { isNotFound, type NatsContext } from "./Buckets.ts"

/**
 * Outbox consumption on NATS: the OUTBOX stream (work-queue retention, msgID dedupe) and one
 * durable pull consumer shared by every ODGM process.
 *
 * A lease is a NAK with delay: the claimed message stays pending and comes back after `leaseMs`
 * unless acked first (verified on 2.9.10), so each claim picks its own lease without changing
 * the consumer (a NAK delay longer than ack_wait holds, verified on 2.9.10). The consumer's
 * ack_wait (5 s) is only the backstop for messages a process fetched but never leased: it died
 * with a pull request in flight, whose messages the server still delivered to it. max_deliver is unlimited because 2.9 drops
 * a message silently after it; the dispatcher dead-letters instead. The server does not reject
 * a NAK from an older delivery, so staleness is checked here, against this process's leases.
 * `attempts` is JetStream's delivery count: an event committed with a future `availableAt` is
 * delivered early once (and NAKed until due), which counts as one attempt.
 */

const DISPATCH = "dispatch"
const BACKSTOP_ACK_WAIT_MS = 5_000
const nanos = (ms: number) => ms * 1_000_000

interface Dead extends DeadLetter {}

export const makeOutbox = (ctx: NatsContext) =>
  Effect.gen(function*() {
    const stream = `${ctx.prefix}_OUTBOX`
    const budget = { budget: ctx.budget, idempotent: true }
    const exists = (f: () => Promise<unknown>) =>
      f().then(() => true, (e: unknown) => (isNotFound(e) ? false : Promise.reject(e)))
    const ensureStream = retrying("outbox.stream", async () => {
      if (!(await exists(() => ctx.jsm.streams.info(stream)))) {
        await ctx.jsm.streams.add({
          name: stream,
          subjects: [ctx.outboxSubject],
          retention: RetentionPolicy.Workqueue,
          storage: StorageType.File,
          num_replicas: ctx.replicas,
          duplicate_window: nanos(120_000),
        })
      }
      const current = await ctx.jsm.consumers.info(stream, DISPATCH).catch((
        e: unknown,
      ) => (isNotFound(e) ? undefined : Promise.reject(e)))
      // Consumers made by an older ODGM had a 60 s backstop: events stranded by a crash waited that long.
      if (current && current.config.ack_wait !== nanos(BACKSTOP_ACK_WAIT_MS)) {
        await ctx.jsm.consumers.update(stream, DISPATCH, { ack_wait: nanos(BACKSTOP_ACK_WAIT_MS) })
      }
      if (!current) {
        await ctx.jsm.consumers.add(stream, {
          durable_name: DISPATCH,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          ack_wait: nanos(BACKSTOP_ACK_WAIT_MS),
          max_deliver: -1,
          // Leased and retry-scheduled events stay "ack pending"; a cap would stall delivery behind them.
          max_ack_pending: -1,
        })
      }
    }, budget)
    const openDead = retrying("outbox.dead", () =>
      new Kvm(ctx.js).create(`${ctx.prefix}_dead`, {
        replicas: ctx.replicas,
        history: 1,
        allow_direct: false,
        timeout: ctx.timeoutMs,
      }), budget)
    const [, dead] = yield* Effect.all([ensureStream, openDead], { concurrency: "unbounded" })

    // claimToken (the delivery's ack subject) -> when this process's lease on it ends.
    const leases = new Map<string, number>()
    const live = (claim: ClaimedEvent) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const until = leases.get(claim.claimToken)
        leases.delete(claim.claimToken)
        return until !== undefined && until > now
      })
    const nak = (token: string, delayMs: number) =>
      call("outbox.nak", async () =>
        ctx.nc.publish(token, `-NAK ${JSON.stringify({ delay: nanos(Math.max(0, Math.round(delayMs))) })}`))
    const ackish = (operation: string, token: string, body: "+ACK" | "+TERM") =>
      retrying(operation, () =>
        ctx.nc.request(token, body, { timeout: ctx.timeoutMs }), budget)

    const readDead = (key: string) =>
      Effect.flatMap(
        retrying("outbox.dead.get", () => dead.get(key), budget),
        (e) =>
          e && e.operation === "PUT" && e.value.length > 0
            ? Effect.asSome(decodeJson<Dead>("outbox.dead.get", e.value))
            : Effect.succeedNone,
      )

    const ops: Pick<
      ObjectStore,
      | "claimEvents"
      | "renewEvent"
      | "ackEvent"
      | "retryEvent"
      | "deadLetter"
      | "listDeadLetters"
      | "redrive"
      | "discard"
    > = {
      claimEvents: tracedFn("NatsStore.claimEvents")(function*(max, leaseMs) {
        const msgs = yield* call("claimEvents", () => pull(ctx.nc, stream, DISPATCH, max)).pipe(
          Effect.mapError(toStorageError),
        )
        const now = yield* Clock.currentTimeMillis
        // Leases a dispatcher let lapse are forgotten here, or the table would only grow.
        if (leases.size > 10_000) { for (const [token, until] of leases) if (until <= now) leases.delete(token) }
        const claims: ClaimedEvent[] = []
        for (const m of msgs) {
          const token = m.reply ?? ""
          const decoded = yield* Effect.option(decodeJson<OutboxEvent>("claimEvents", m.data))
          if (Option.isNone(decoded)) {
            // Not an event of ours (someone else published on the subject): say so, and drop it.
            yield* Effect.logWarning(`outbox message on ${m.subject} is not an event; terminated`)
            yield* call("outbox.term", async () => ctx.nc.publish(token, "+TERM")).pipe(Effect.ignore)
            continue
          }
          const event = decoded.value
          const early = event.availableAt > now
          const lease = leaseOf(leaseMs, event)
          yield* nak(token, early ? event.availableAt - now : lease).pipe(Effect.ignore)
          if (early) continue
          leases.set(token, now + lease)
          claims.push({ event, attempts: deliveryCount(m.reply), claimToken: token })
        }
        return claims
      }),

      // A second NAK with a delay moves the redelivery (verified on 2.9.10: NAK 1 s, then 3 s half
      // a second later, redelivered after 3.5 s).
      renewEvent: tracedFn("NatsStore.renewEvent")(function*(claim, leaseMs) {
        const now = yield* Clock.currentTimeMillis
        const until = leases.get(claim.claimToken)
        if (until === undefined || until <= now) return
        leases.set(claim.claimToken, now + leaseMs)
        yield* nak(claim.claimToken, leaseMs).pipe(Effect.mapError(toStorageError))
      }),

      ackEvent: tracedFn("NatsStore.ackEvent")(function*(claim) {
        leases.delete(claim.claimToken)
        yield* ackish("ackEvent", claim.claimToken, "+ACK")
      }),

      retryEvent: tracedFn("NatsStore.retryEvent")(function*(claim, availableAt) {
        if (!(yield* live(claim))) return
        const now = yield* Clock.currentTimeMillis
        yield* nak(claim.claimToken, availableAt - now).pipe(Effect.mapError(toStorageError))
      }),

      deadLetter: tracedFn("NatsStore.deadLetter")(function*(claim, error) {
        if (!(yield* live(claim))) return
        const now = yield* Clock.currentTimeMillis
        const record: Dead = { event: claim.event, attempts: claim.attempts, error, deadAt: now }
        // Record first, then TERM: a crash in between redelivers the event, it is never lost.
        yield* retrying("deadLetter", () => dead.put(plainKey(claim.event.id), JSON.stringify(record)), budget)
        yield* ackish("deadLetter", claim.claimToken, "+TERM")
      }),

      // keys() is an unsorted scan of the whole bucket; dead letters are few, so that is fine.
      listDeadLetters: tracedFn("NatsStore.listDeadLetters")(function*(q) {
        const limit = yield* validateLimit("listDeadLetters", q.limit)
        const keys = yield* retrying("listDeadLetters", async () => {
          const out: string[] = []
          for await (const k of await dead.keys()) out.push(k)
          return out
        }, budget)
        const records = yield* Effect.forEach(keys, readDead, { concurrency: 16 })
        const all = records
          .flatMap((r) => (Option.isSome(r) ? [r.value] : []))
          .filter((d) => q.cursor === undefined || compareIds(d.event.id, q.cursor) > 0)
          .sort((a, b) => compareIds(a.event.id, b.event.id))
        const items = all.slice(0, limit)
        const last = items[items.length - 1]
        return all.length > limit && last ? { items, nextCursor: last.event.id } : { items }
      }),

      redrive: tracedFn("NatsStore.redrive")(function*(eventId) {
        const d = yield* readDead(plainKey(eventId))
        if (Option.isNone(d)) return yield* new NotFound({ resource: "dead letter", name: eventId })
        const now = yield* Clock.currentTimeMillis
        // A new msgID: the original one may still be inside the dedupe window.
        yield* retrying("redrive", () =>
          ctx.js.publish(ctx.outboxSubject, JSON.stringify({ ...d.value.event, availableAt: now }), {
            msgID: `${eventId}#redrive#${now}`,
            timeout: ctx.timeoutMs,
          }), budget)
        yield* retrying("redrive", () =>
          dead.purge(plainKey(eventId)), budget)
      }),

      discard: tracedFn("NatsStore.discard")(function*(eventId) {
        const d = yield* readDead(plainKey(eventId))
        if (Option.isNone(d)) {
          return yield* new NotFound({ resource: "dead letter", name: eventId })
        }
        yield* retrying("discard", () =>
          dead.purge(plainKey(eventId)), budget)
      }),
    }
    return ops
  })
