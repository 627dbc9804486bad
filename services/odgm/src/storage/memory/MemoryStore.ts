import { Clock, Effect, Option, type Scope } from "effect"
import { NotFound } from "@oprc/models"
import { tracedFn } from "@oprc/observability"
import type { ObjectRef, StoredObject } from "../../domain/types.ts"
import type { ClaimedEvent, DeadLetter, ObjectStore, OutboxEvent } from "../ObjectStore.ts"
import {
  cloneEvent,
  cloneObject,
  compareIds,
  compareKeys,
  decide,
  decodeCursor,
  encodeCursor,
  leaseOf,
  newToken,
  validateLimit,
} from "../common.ts"

/**
 * The in-process engine: a full, honest implementation (tests and `oprc dev --memory`), not a stub.
 * Every operation is one synchronous step, so fibers never observe a half-applied commit.
 */

interface Pending {
  event: OutboxEvent
  seq: number
  attempts: number
  dueAt: number
  token: string | undefined
}

const key = (partition: number, id: string) => `${partition}\u0000${id}`

export const makeMemoryStore: Effect.Effect<ObjectStore, never, Scope.Scope> = Effect.gen(function*() {
  const classes = new Map<string, Map<string, StoredObject>>()
  const outbox = new Map<string, Pending>()
  const dead = new Map<string, DeadLetter>()
  const results = new Map<string, { value: unknown; expiresAt: number; final: boolean }>()
  let seq = 0

  const objectsOf = (cls: string) => {
    let m = classes.get(cls)
    if (!m) classes.set(cls, m = new Map())
    return m
  }
  const current = (ref: ObjectRef) => classes.get(ref.cls)?.get(key(ref.partition, ref.id))
  // A live lease with this token, or nothing (expired leases are stale).
  const leased = (claim: ClaimedEvent, now: number) => {
    const p = outbox.get(claim.event.id)
    return p && p.token === claim.claimToken && p.dueAt > now ? p : undefined
  }

  const setResult = (id: string, value: unknown, expiresAt: number, final: boolean, now: number) => {
    const existing = results.get(id)
    if (!final && existing?.final && existing.expiresAt > now) return
    results.set(id, { value: structuredClone(value), expiresAt, final })
  }
  const liveResult = (id: string, now: number) => {
    const r = results.get(id)
    if (r && r.expiresAt <= now) results.delete(id)
    return r && r.expiresAt > now ? r : undefined
  }

  const store: ObjectStore = {
    inlineGets: true,
    get: (ref) => Effect.sync(() => Option.map(Option.fromNullishOr(current(ref)), cloneObject)),

    getInvoked: tracedFn("MemoryStore.getInvoked")(function*(ref, invocationId) {
      const r = liveResult(invocationId, yield* Clock.currentTimeMillis)
      return {
        object: Option.map(Option.fromNullishOr(current(ref)), cloneObject),
        recorded: r?.final ? Option.some(structuredClone(r.value)) : Option.none(),
      }
    }),

    commit: tracedFn("MemoryStore.commit")(function*(req) {
      const now = yield* Clock.currentTimeMillis
      const d = decide(current(req.ref), req, now)
      if (d._tag === "Conflict") return yield* d.error
      const objects = objectsOf(req.ref.cls)
      if (d.stored) objects.set(key(req.ref.partition, req.ref.id), cloneObject(d.stored))
      else objects.delete(key(req.ref.partition, req.ref.id))
      for (const e of req.events) {
        if (outbox.has(e.id) || dead.has(e.id)) continue
        outbox.set(e.id, { event: cloneEvent(e), seq: seq++, attempts: 0, dueAt: e.availableAt, token: undefined })
      }
      if (req.invocation) {
        setResult(req.invocation.id, req.invocation.result, now + req.invocation.ttlMs, req.invocation.final, now)
      }
      return d.stored
    }),

    list: tracedFn("MemoryStore.list")(function*(q) {
      const limit = yield* validateLimit("list", q.limit)
      const after = yield* decodeCursor("list", q.cursor)
      const prefix = q.prefix ?? ""
      const all = [...(classes.get(q.cls)?.values() ?? [])]
        .filter((o) => (q.partition === undefined || o.partition === q.partition) && o.id.startsWith(prefix))
        .filter((o) => after === undefined || compareKeys(o, after) > 0)
        .sort(compareKeys)
      const items = all.slice(0, limit).map(cloneObject)
      const last = items[items.length - 1]
      return all.length > limit && last ? { items, nextCursor: encodeCursor(last) } : { items }
    }),

    deleteClass: (cls) =>
      Effect.sync(() => {
        const n = classes.get(cls)?.size ?? 0
        classes.delete(cls)
        return n
      }),

    claimEvents: tracedFn("MemoryStore.claimEvents")(function*(max, leaseMs) {
      const now = yield* Clock.currentTimeMillis
      const due = [...outbox.values()].filter((p) => p.dueAt <= now).sort((a, b) => a.dueAt - b.dueAt || a.seq - b.seq)
        .slice(0, max)
      const claims: ClaimedEvent[] = []
      for (const p of due) {
        p.token = yield* newToken
        p.attempts += 1
        p.dueAt = now + leaseOf(leaseMs, p.event)
        claims.push({ event: cloneEvent(p.event), attempts: p.attempts, claimToken: p.token })
      }
      return claims
    }),

    renewEvent: tracedFn("MemoryStore.renewEvent")(function*(claim, leaseMs) {
      const now = yield* Clock.currentTimeMillis
      const p = leased(claim, now)
      if (p) p.dueAt = now + leaseMs
    }),

    ackEvent: (claim) => Effect.sync(() => void outbox.delete(claim.event.id)),

    retryEvent: tracedFn("MemoryStore.retryEvent")(function*(claim, availableAt) {
      const p = leased(claim, yield* Clock.currentTimeMillis)
      if (!p) return
      p.dueAt = availableAt
      p.token = undefined
    }),

    deadLetter: tracedFn("MemoryStore.deadLetter")(function*(claim, error) {
      const now = yield* Clock.currentTimeMillis
      const p = leased(claim, now)
      if (!p) return
      outbox.delete(p.event.id)
      dead.set(p.event.id, { event: p.event, attempts: p.attempts, error, deadAt: now })
    }),

    listDeadLetters: tracedFn("MemoryStore.listDeadLetters")(function*(q) {
      const limit = yield* validateLimit("listDeadLetters", q.limit)
      const all = [...dead.values()]
        .filter((d) => q.cursor === undefined || compareIds(d.event.id, q.cursor) > 0)
        .sort((a, b) => compareIds(a.event.id, b.event.id))
      const items = all.slice(0, limit).map((d) => structuredClone(d))
      const last = items[items.length - 1]
      return all.length > limit && last ? { items, nextCursor: last.event.id } : { items }
    }),

    redrive: tracedFn("MemoryStore.redrive")(function*(eventId) {
      const d = dead.get(eventId)
      if (!d) return yield* new NotFound({ resource: "dead letter", name: eventId })
      const now = yield* Clock.currentTimeMillis
      dead.delete(eventId)
      outbox.set(eventId, { event: d.event, seq: seq++, attempts: 0, dueAt: now, token: undefined })
    }),

    discard: tracedFn("MemoryStore.discard")(function*(eventId) {
      if (!dead.delete(eventId)) return yield* new NotFound({ resource: "dead letter", name: eventId })
    }),

    putResult: tracedFn("MemoryStore.putResult")(function*(id, result, ttlMs, final) {
      const now = yield* Clock.currentTimeMillis
      setResult(id, result, now + ttlMs, final, now)
    }),

    getResult: tracedFn("MemoryStore.getResult")(function*(id) {
      const r = liveResult(id, yield* Clock.currentTimeMillis)
      return r ? Option.some(structuredClone(r.value)) : Option.none()
    }),

    ready: Effect.void,
  }

  // Expired results are dropped lazily on read; the sweep bounds memory for ids never read again.
  const sweep = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    for (const [id, r] of results) if (r.expiresAt <= now) results.delete(id)
  })
  yield* sweep.pipe(Effect.delay("30 seconds"), Effect.forever, Effect.forkScoped)
  return store
})
