// One behavioural contract for every ObjectStore engine: each engine's test file calls
// `conformance(...)` with a backend, so memory, SQLite and NATS are held to the same semantics.
import { expect, test } from "bun:test"
import { Effect, Layer, Option, Schedule } from "effect"
import type { VersionConflict } from "@oprc/models"
import type { Value } from "../../src/domain/types.ts"
import { type ClaimedEvent, ObjectStoreService, type StorageError } from "../../src/storage/ObjectStore.ts"
import { invocationSlot } from "../../src/storage/common.ts"

export interface Backend {
  /** A store over the namespace `ns`; opening the same `ns` again sees the same data (unless the engine is in-memory). */
  readonly layer: (ns: string) => Layer.Layer<ObjectStoreService, StorageError>
  /** Restarts whatever holds the data (e.g. the nats-servers) between two opens. */
  readonly restart?: () => Promise<void>
}

type Program<A> = Effect.Effect<A, unknown, ObjectStoreService>
let nsCounter = 0
export const newNamespace = () => `t${Date.now().toString(36)}${(nsCounter++).toString(36)}`
export const runIn = <A>(backend: Backend, ns: string, program: Program<A>): Promise<A> =>
  Effect.runPromise(Effect.provide(program, backend.layer(ns)))

const json = (value: unknown): Value => ({ _tag: "Json", value })
const ref = (id: string, partition = 0, cls = "pkg.Counter") => ({ cls, partition, id })
const put = (id: string, n: number, expectedVersion: bigint | undefined, events: string[] = [], partition = 0) =>
  Effect.gen(function*() {
    const store = yield* ObjectStoreService
    return yield* store.commit({
      ref: ref(id, partition),
      next: { entries: { n: json(n) }, triggers: [] },
      expectedVersion,
      events: events.map((id) => ({ id, payload: { id }, availableAt: 0 })),
    })
  })
const conflict = <A>(e: Effect.Effect<A, VersionConflict | StorageError, ObjectStoreService>) =>
  Effect.map(Effect.flip(e), (err) => err._tag)

// What a real client does on VersionConflict: re-read after a jittered, growing pause, so 200
// contenders do not all re-collide on every round.
const conflictBackoff = Schedule.min([Schedule.exponential("2 millis"), Schedule.spaced("100 millis")]).pipe(
  Schedule.jittered,
)

/** Claims until every id in `want` was seen (engines may make events claimable asynchronously); others are released. */
export const claimUntil = (want: ReadonlyArray<string>, leaseMs = 30_000, timeoutMs = 15_000) =>
  Effect.gen(function*() {
    const store = yield* ObjectStoreService
    const seen = new Map<string, ClaimedEvent>()
    const deadline = Date.now() + timeoutMs
    while (!want.every((id) => seen.has(id)) && Date.now() < deadline) {
      // A consumer must ride out transient failures (a cluster still recovering after a restart
      // times out pulls), as ODGM's dispatcher does; only a non-retryable error fails the wait.
      const claimed = yield* store.claimEvents(100, leaseMs).pipe(
        Effect.catchIf((e) => e.retryable, () => Effect.succeed<ReadonlyArray<ClaimedEvent>>([])),
      )
      for (const c of claimed) {
        // Hand back what this wait is not about, or its lease would hide it from the next wait.
        if (want.includes(c.event.id)) seen.set(c.event.id, c)
        else yield* store.retryEvent(c, 0, "released by claimUntil")
      }
      if (!want.every((id) => seen.has(id))) yield* Effect.sleep("50 millis")
    }
    return seen
  })

/**
 * The suite for one engine. `persistent: false` (the memory engine) leaves out the reopen test
 * rather than letting it pass without checking anything.
 */
export function conformance(
  name: string,
  backend: () => Backend,
  timeout = 30_000,
  options: { readonly persistent?: boolean } = {},
) {
  const run = <A>(program: Program<A>) => runIn(backend(), newNamespace(), program)

  test(`${name}: compare-and-swap (create-only, stale version, delete with version)`, () =>
    run(
      Effect.gen(function*() {
        const store = yield* ObjectStoreService
        expect(Option.isNone(yield* store.get(ref("a")))).toBe(true)
        const v1 = yield* put("a", 1, 0n)
        expect(v1?.version).toBe(1n)
        expect(yield* conflict(put("a", 9, 0n))).toBe("VersionConflict")
        expect(yield* conflict(put("a", 9, 2n))).toBe("VersionConflict")
        const v2 = yield* put("a", 2, 1n)
        expect(v2?.version).toBe(2n)
        expect(v2?.createdAt).toBe(v1?.createdAt ?? -1)
        expect((yield* put("a", 3, undefined))?.version).toBe(3n)
        const del = (v: bigint | undefined) =>
          store.commit({ ref: ref("a"), next: null, expectedVersion: v, events: [] })
        expect(yield* conflict(del(2n))).toBe("VersionConflict")
        const got = Option.getOrThrow(yield* store.get(ref("a")))
        expect([got.version, got.entries.n]).toEqual([3n, json(3)])
        expect(yield* del(3n)).toBeNull()
        expect(Option.isNone(yield* store.get(ref("a")))).toBe(true)
        expect(yield* conflict(del(1n))).toBe("VersionConflict")
        expect(yield* del(undefined)).toBeNull()
        expect((yield* put("a", 4, 0n))?.version).toBe(1n)
        // The same id in another partition is another object.
        expect(Option.isNone(yield* store.get(ref("a", 1)))).toBe(true)
      }),
    ), timeout)

  test(`${name}: entries (JSON and bytes) and triggers round-trip`, () =>
    run(
      Effect.gen(function*() {
        const store = yield* ObjectStoreService
        const bytes = new Uint8Array([0, 255, 7, 128])
        const entries = {
          doc: json({ a: [1, "two", null, { b: true }] }),
          raw: { _tag: "Bytes", value: bytes } as const,
          "ü k": json("ä"),
        }
        const triggers = [{ on: "update", key: "doc", fn: "notify" }]
        yield* store.commit({ ref: ref("rt/ä b+c"), next: { entries, triggers }, expectedVersion: 0n, events: [] })
        const got = Option.getOrThrow(yield* store.get(ref("rt/ä b+c")))
        expect(got.entries).toEqual(entries)
        expect(got.triggers).toEqual(triggers)
        expect([got.cls, got.partition, got.id]).toEqual(["pkg.Counter", 0, "rt/ä b+c"])
      }),
    ), timeout)

  test(`${name}: 200 concurrent read-modify-write increments lose no update`, () =>
    run(
      Effect.gen(function*() {
        const store = yield* ObjectStoreService
        yield* put("ctr", 0, 0n)
        const increment = Effect.gen(function*() {
          const cur = Option.getOrThrow(yield* store.get(ref("ctr")))
          const n = cur.entries.n?.value
          yield* put("ctr", Number(n) + 1, cur.version)
        }).pipe(Effect.retry({ while: (e) => e._tag === "VersionConflict", schedule: conflictBackoff }))
        yield* Effect.forEach(Array.from({ length: 200 }), () => increment, { concurrency: "unbounded", discard: true })
        const end = Option.getOrThrow(yield* store.get(ref("ctr")))
        expect(end.entries.n).toEqual(json(200))
        expect(end.version).toBe(201n)
      }),
    ), 60_000)

  test(`${name}: outbox events exist exactly for committed writes`, () =>
    run(
      Effect.gen(function*() {
        const store = yield* ObjectStoreService
        yield* put("o", 1, 0n, ["e1"])
        expect(yield* conflict(put("o", 2, 5n, ["lost-1"]))).toBe("VersionConflict")
        yield* put("o", 2, 1n, ["e2", "e3"])
        const del = (v: bigint | undefined, events: string[]) =>
          store.commit({
            ref: ref("o"),
            next: null,
            expectedVersion: v,
            events: events.map((id) => ({ id, payload: { id }, availableAt: 0 })),
          })
        expect(yield* conflict(del(1n, ["lost-2"]))).toBe("VersionConflict")
        yield* del(2n, ["e4"])
        yield* del(undefined, ["e5"])
        const seen = yield* claimUntil(["e1", "e2", "e3", "e4", "e5"])
        expect([...seen.keys()].sort()).toEqual(["e1", "e2", "e3", "e4", "e5"])
        expect(seen.get("e2")?.event.payload).toEqual({ id: "e2" })
        yield* Effect.forEach(seen.values(), (c) => store.ackEvent(c), { discard: true })
        yield* Effect.sleep("1500 millis")
        expect((yield* store.claimEvents(100, 30_000)).map((c) => c.event.id)).toEqual([])
      }),
    ), timeout)

  test(`${name}: claim leases, retry, dead letter, redrive, discard`, () =>
    run(
      Effect.gen(function*() {
        const store = yield* ObjectStoreService
        const now = Date.now()
        yield* store.commit({
          ref: ref("q"),
          next: { entries: {}, triggers: [] },
          expectedVersion: 0n,
          events: [{ id: "ev", payload: { n: 1 }, availableAt: now }, {
            id: "later",
            payload: {},
            availableAt: now + 2500,
          }],
        })
        const first = (yield* claimUntil(["ev"], 1000)).get("ev")!
        expect(first.attempts).toBe(1)
        expect(yield* store.claimEvents(10, 1000)).toEqual([]) // leased, and "later" is not due
        const second = (yield* claimUntil(["ev"], 1000, 5000)).get("ev")! // the lease expired
        expect(second.attempts).toBe(2)
        yield* store.retryEvent(first, 0, "stale lease: ignored")
        yield* store.retryEvent(second, Date.now() + 800, "boom")
        expect((yield* store.claimEvents(10, 1000)).map((c) => c.event.id)).toEqual([])
        const third = (yield* claimUntil(["ev"], 10_000, 5000)).get("ev")!
        expect(third.attempts).toBe(3)
        expect(Date.now() - now).toBeGreaterThanOrEqual(1700)
        yield* store.deadLetter(third, "gave up")
        const later = (yield* claimUntil(["later"], 10_000, 5000)).get("later")!
        expect(Date.now() - now).toBeGreaterThanOrEqual(2400)
        yield* store.ackEvent(later)
        const dead = yield* store.listDeadLetters({ limit: 10 })
        expect(dead.items.map((d) => [d.event.id, d.event.payload, d.attempts, d.error])).toEqual([[
          "ev",
          { n: 1 },
          3,
          "gave up",
        ]])
        yield* store.redrive("ev")
        expect((yield* store.listDeadLetters({ limit: 10 })).items).toEqual([])
        const again = (yield* claimUntil(["ev"], 1000, 5000)).get("ev")!
        expect(again.attempts).toBe(1)
        yield* store.deadLetter(again, "again")
        yield* store.discard("ev")
        expect((yield* store.listDeadLetters({ limit: 10 })).items).toEqual([])
        expect((yield* Effect.flip(store.discard("ev")))._tag).toBe("NotFound")
        expect((yield* Effect.flip(store.redrive("nope")))._tag).toBe("NotFound")
        yield* Effect.sleep("1200 millis")
        expect(yield* store.claimEvents(10, 1000)).toEqual([])
      }),
    ), timeout)

  test(`${name}: dead letters page by event id`, () =>
    run(
      Effect.gen(function*() {
        const store = yield* ObjectStoreService
        const ids = ["d3", "d1", "d5", "d2", "d4"]
        yield* put("dl", 0, 0n, ids)
        const claims = yield* claimUntil(ids)
        yield* Effect.forEach(claims.values(), (c) => store.deadLetter(c, `failed ${c.event.id}`), { discard: true })
        const p1 = yield* store.listDeadLetters({ limit: 3 })
        expect(p1.items.map((d) => d.event.id)).toEqual(["d1", "d2", "d3"])
        const p2 = yield* store.listDeadLetters({ limit: 3, ...(p1.nextCursor ? { cursor: p1.nextCursor } : {}) })
        expect(p2.items.map((d) => d.event.id)).toEqual(["d4", "d5"])
        expect(p2.nextCursor).toBeUndefined()
      }),
    ), timeout)

  test(`${name}: async results expire after their TTL`, () =>
    run(
      Effect.gen(function*() {
        const store = yield* ObjectStoreService
        yield* store.putResult("short", { status: "OK", output: [1, 2] }, 400, false)
        yield* store.putResult("long", "kept", 60_000, true)
        yield* store.putResult("final-short", "first", 400, true)
        expect(yield* store.getResult("short")).toEqual(Option.some({ status: "OK", output: [1, 2] }))
        expect(Option.isNone(yield* store.getResult("missing"))).toBe(true)
        yield* Effect.sleep("700 millis")
        expect(Option.isNone(yield* store.getResult("short"))).toBe(true)
        expect(yield* store.getResult("long")).toEqual(Option.some("kept"))
        // An expired final result no longer holds its id: a new (non-final) one takes it.
        yield* store.putResult("final-short", "again", 60_000, false)
        expect(yield* store.getResult("final-short")).toEqual(Option.some("again"))
      }),
    ), timeout)

  test(
    `${name}: an invocation record is committed with its write, found by getInvoked, and never replaced by a non-final result`,
    () =>
      run(
        Effect.gen(function*() {
          const store = yield* ObjectStoreService
          const record = (id: string, n: number, final = true) => ({ id, result: { n }, ttlMs: 60_000, final })
          const o = ref("inv")
          // A commit that loses its compare-and-swap records nothing.
          yield* put("inv", 1, 0n)
          expect(
            yield* conflict(
              store.commit({
                ref: o,
                next: { entries: { n: json(5) }, triggers: [] },
                expectedVersion: 0n,
                events: [],
                invocation: record("lost", 5),
              }),
            ),
          ).toBe("VersionConflict")
          expect(Option.isNone((yield* store.getInvoked(o, "lost")).recorded)).toBe(true)
          const stored = yield* store.commit({
            ref: o,
            next: { entries: { n: json(2) }, triggers: [] },
            expectedVersion: 1n,
            events: [],
            invocation: record("won", 2),
          })
          expect(stored?.version).toBe(2n)
          const found = yield* store.getInvoked(o, "won")
          expect(found.recorded).toEqual(Option.some({ n: 2 }))
          expect(Option.getOrThrow(found.object).version).toBe(2n)
          // A PENDING-like result does not hide the applied one.
          yield* store.putResult("won", { n: -1 }, 60_000, false)
          expect((yield* store.getInvoked(o, "won")).recorded).toEqual(Option.some({ n: 2 }))
          yield* store.putResult("done", { n: 3 }, 60_000, true)
          yield* store.putResult("done", { n: -1 }, 60_000, false)
          expect(yield* store.getResult("done")).toEqual(Option.some({ n: 3 }))
          expect((yield* store.getInvoked(o, "done")).recorded).toEqual(Option.some({ n: 3 }))
          // Records without an object write (the class's invocation slot), final and not.
          const slot = invocationSlot("pkg.Counter", "read-only")
          yield* store.commit({
            ref: slot,
            next: null,
            expectedVersion: 0n,
            events: [{ id: "fe-1", payload: {}, availableAt: 0 }],
            invocation: record("read-only", 7),
          })
          expect((yield* store.getInvoked(o, "read-only")).recorded).toEqual(Option.some({ n: 7 }))
          const jobSlot = invocationSlot("pkg.Counter", "job")
          yield* store.commit({
            ref: jobSlot,
            next: null,
            expectedVersion: 0n,
            events: [{ id: "async.job", payload: {}, availableAt: 0 }],
            invocation: record("job", 0, false),
          })
          expect(yield* store.getResult("job")).toEqual(Option.some({ n: 0 }))
          expect(Option.isNone((yield* store.getInvoked(o, "job")).recorded)).toBe(true)
          expect([...(yield* claimUntil(["fe-1", "async.job"])).keys()].sort()).toEqual(["async.job", "fe-1"])
          // Many records on one object: the oldest stay findable (an engine may move them elsewhere).
          for (let i = 0; i < 70; i++) {
            yield* store.commit({
              ref: o,
              next: { entries: { n: json(100 + i) }, triggers: [] },
              expectedVersion: BigInt(2 + i),
              events: [],
              invocation: record(`many-${i}`, i),
            })
          }
          for (const i of [0, 20, 69]) {
            expect((yield* store.getInvoked(o, `many-${i}`)).recorded).toEqual(Option.some({ n: i }))
          }
        }),
      ),
    timeout,
  )

  test(`${name}: list pages by (partition, id) with prefix, partition filter and cursor`, () =>
    run(
      Effect.gen(function*() {
        const store = yield* ObjectStoreService
        const ids = [...Array.from({ length: 12 }, (_, i) => `a${String(i).padStart(2, "0")}`), "b0", "b1", "b2"]
        const all = [0, 1].flatMap((p) => ids.map((id) => ({ p, id })))
        yield* Effect.forEach([...all].reverse(), ({ p, id }) => put(id, p, 0n, [], p), {
          concurrency: 16,
          discard: true,
        })
        yield* store.commit({
          ref: ref("a00", 0, "other.Class"),
          next: { entries: {}, triggers: [] },
          expectedVersion: 0n,
          events: [],
        })
        const pages = (q: { partition?: number; prefix?: string; limit: number }) =>
          Effect.gen(function*() {
            const out: string[] = []
            let cursor: string | undefined
            do {
              const page = yield* store.list({ cls: "pkg.Counter", ...q, ...(cursor ? { cursor } : {}) })
              expect(page.items.length).toBeLessThanOrEqual(q.limit)
              out.push(...page.items.map((o) => `${o.partition}/${o.id}=${String(o.entries.n?.value)}`))
              cursor = page.nextCursor
            } while (cursor)
            return out
          })
        expect(yield* pages({ limit: 7 })).toEqual(all.map(({ p, id }) => `${p}/${id}=${p}`))
        expect(yield* pages({ partition: 1, prefix: "a", limit: 5 })).toEqual(ids.slice(0, 12).map((id) => `1/${id}=1`))
        expect(yield* pages({ prefix: "b", limit: 1000 })).toEqual([
          "0/b0=0",
          "0/b1=0",
          "0/b2=0",
          "1/b0=1",
          "1/b1=1",
          "1/b2=1",
        ])
        expect(yield* store.deleteClass("pkg.Counter")).toBe(30)
        expect((yield* store.list({ cls: "pkg.Counter", limit: 10 })).items).toEqual([])
        expect((yield* store.list({ cls: "other.Class", limit: 10 })).items.length).toBe(1)
      }),
    ), timeout)

  test(`${name}: a renewed lease keeps the event, a lapsed one gives it back`, () =>
    run(
      Effect.gen(function*() {
        const store = yield* ObjectStoreService
        yield* put("renew", 1, 0n, ["ren-1"])
        const claim = (yield* claimUntil(["ren-1"], 600)).get("ren-1")!
        yield* Effect.sleep("300 millis")
        yield* store.renewEvent(claim, 1500)
        yield* Effect.sleep("600 millis") // the first lease would have lapsed by now
        const early = yield* store.claimEvents(10, 5000)
        expect(early.map((c) => c.event.id)).not.toContain("ren-1")
        for (const c of early) yield* store.retryEvent(c, 0, "not this test's")
        const back = yield* claimUntil(["ren-1"], 5000, 5000)
        expect(back.get("ren-1")?.attempts).toBe(2)
        yield* store.ackEvent(back.get("ren-1")!)
      }),
    ), timeout)

  test(`${name}: large pages (250 objects, 4 partitions, limits 1000 and 150) come whole and in order`, () =>
    run(
      Effect.gen(function*() {
        const store = yield* ObjectStoreService
        const all = Array.from({ length: 250 }, (_, i) => ({ p: i % 4, id: `big-${String(i).padStart(3, "0")}` }))
        yield* Effect.forEach(all, ({ p, id }) => put(id, p, 0n, [], p), { concurrency: 32, discard: true })
        const want = [...all].sort((a, b) => a.p - b.p || (a.id < b.id ? -1 : 1)).map(({ p, id }) => `${p}/${id}`)
        const whole = yield* store.list({ cls: "pkg.Counter", prefix: "big-", limit: 1000 })
        expect([whole.items.map((o) => `${o.partition}/${o.id}`), whole.nextCursor]).toEqual([want, undefined])
        const seen: string[] = []
        let cursor: string | undefined
        do {
          const page = yield* store.list({
            cls: "pkg.Counter",
            prefix: "big-",
            limit: 150,
            ...(cursor ? { cursor } : {}),
          })
          seen.push(...page.items.map((o) => `${o.partition}/${o.id}`))
          cursor = page.nextCursor
        } while (cursor)
        expect(seen).toEqual(want)
      }),
    ), timeout)

  test.skipIf(options.persistent === false)(
    `${name}: objects, pending events and results survive a reopen`,
    async () => {
      const b = backend()
      const ns = newNamespace()
      await runIn(
        b,
        ns,
        Effect.gen(function*() {
          const store = yield* ObjectStoreService
          yield* put("keep", 7, 0n, ["pending-1"])
          yield* put("keep", 8, 1n, ["pending-2"])
          yield* store.putResult("res", { ok: true }, 60_000, true)
        }),
      )
      await b.restart?.()
      await runIn(
        b,
        ns,
        Effect.gen(function*() {
          const store = yield* ObjectStoreService
          const got = Option.getOrThrow(yield* store.get(ref("keep")))
          expect([got.version, got.entries.n]).toEqual([2n, json(8)])
          expect([...(yield* claimUntil(["pending-1", "pending-2"])).keys()].sort()).toEqual(["pending-1", "pending-2"])
          expect(yield* store.getResult("res")).toEqual(Option.some({ ok: true }))
        }),
      )
    },
    60_000,
  )
}

export const memoryBackend = (): Backend => ({ layer: () => Layer.fresh(ObjectStoreService.layerMemory) })
