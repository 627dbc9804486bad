import { expect, test } from "bun:test"
import { Effect, type Layer, Option, Schema, type Scope } from "effect"
import { ControlPlaneStore, type DocumentCollection, type StorageError } from "../src/index.ts"
import { watchTests } from "./conformance-watch.ts"

/** A document whose encoded form differs from its type (tag is a string in storage). */
export const Thing = Schema.Struct({ name: Schema.String, count: Schema.Number, tag: Schema.NumberFromString })
export type Thing = typeof Thing.Type
export const thing = (name: string, count = 0): Thing => ({ name, count, tag: count * 10 })

export interface StoreFactory {
  readonly backend: "memory" | "sqlite" | "etcd"
  /** The same name opens the same storage again (file path / etcd prefix) when persistent. */
  readonly layer: (name: string) => Layer.Layer<ControlPlaneStore, StorageError>
  readonly persistent: boolean
  readonly timeoutMs?: number
}

type Body<A> = (
  c: DocumentCollection<Thing>,
  store: ControlPlaneStore["Service"],
) => Effect.Effect<A, unknown, Scope.Scope>

let seq = 0
/** Runs `body` against a fresh store; returns the store name so a test can reopen it. */
export const withStore = async <A>(
  f: StoreFactory,
  body: Body<A>,
  name = `t${Date.now().toString(36)}${seq++}`,
): Promise<A> =>
  Effect.runPromise(
    Effect.gen(function*() {
      const store = yield* ControlPlaneStore
      return yield* body(store.collection("things", Thing), store)
    }).pipe(Effect.scoped, Effect.provide(f.layer(name))),
  )

const errorOf = <A, E>(e: Effect.Effect<A, E>) => Effect.flip(e)

/** The behaviour every backend must share. */
export function conformance(f: StoreFactory): void {
  const t = (name: string, fn: () => Promise<void>) => test(name, fn, f.timeoutMs ?? 20_000)

  t("create, get, update, upsert, delete", () =>
    withStore(f, (c, store) =>
      Effect.gen(function*() {
        expect(store.backend).toBe(f.backend)
        yield* store.ready
        const created = yield* c.create("a", thing("a", 1))
        expect(created.revision).toBe(created.createRevision)
        const got = Option.getOrThrow(yield* c.get("a"))
        expect(got).toEqual(created)
        const updated = yield* c.update("a", thing("a", 2), created.revision)
        expect(updated.revision > created.revision).toBe(true)
        expect(updated.createRevision).toBe(created.createRevision)
        expect(Option.getOrThrow(yield* c.get("a")).value).toEqual(thing("a", 2))
        const unconditional = yield* c.update("a", thing("a", 3))
        expect(unconditional.revision > updated.revision).toBe(true)
        const upserted = yield* c.upsert("b", thing("b", 1))
        expect(upserted.createRevision).toBe(upserted.revision)
        const upserted2 = yield* c.upsert("b", thing("b", 2))
        expect(upserted2.createRevision).toBe(upserted.createRevision)
        expect(yield* c.delete("a")).toBe(true)
        expect(Option.isNone(yield* c.get("a"))).toBe(true)
        expect(yield* c.delete("a")).toBe(false)
        // Another kind is another key space.
        const other = store.collection("others", Thing)
        expect(Option.isNone(yield* other.get("b"))).toBe(true)
        const recreated = yield* c.create("a", thing("a", 9))
        expect(recreated.createRevision > upserted2.revision).toBe(true)
      })))

  t(
    "an unchanged revision is read as the object decoded before; a write or delete shows at once",
    () =>
      withStore(f, (c) =>
        Effect.gen(function*() {
          yield* c.create("m1", thing("m1", 1))
          yield* c.create("m2", thing("m2", 1))
          const first = Option.getOrThrow(yield* c.get("m1"))
          expect(Option.getOrThrow(yield* c.get("m1"))).toBe(first)
          const page = yield* c.list({ prefix: "m" })
          expect(page.items[0]).toBe(first)
          yield* c.update("m1", thing("m1", 2))
          expect(Option.getOrThrow(yield* c.get("m1")).value.count).toBe(2)
          expect((yield* c.list({ prefix: "m" })).items.map((d) => d.value.count)).toEqual([2, 1])
          yield* c.delete("m2")
          expect((yield* c.list({ prefix: "m" })).items.map((d) => d.key)).toEqual(["m1"])
          expect(Option.isNone(yield* c.get("m2"))).toBe(true)
        })),
  )

  t("stores the schema's encoded form and decodes it back", () =>
    withStore(f, (c, store) =>
      Effect.gen(function*() {
        yield* c.create("enc", thing("enc", 4))
        const encoded = store.collection(
          "things",
          Schema.Struct({ name: Schema.String, count: Schema.Number, tag: Schema.String }),
        )
        expect(Option.getOrThrow(yield* encoded.get("enc")).value.tag).toBe("40")
        expect(Option.getOrThrow(yield* c.get("enc")).value.tag).toBe(40)
        // A document that does not match the reader's schema is a StorageError, not a crash.
        const strict = store.collection("things", Schema.Struct({ name: Schema.Number }))
        expect((yield* errorOf(strict.get("enc")))._tag).toBe("StorageError")
      })))

  t("AlreadyExists, NotFound and VersionConflict", () =>
    withStore(f, (c) =>
      Effect.gen(function*() {
        const a = yield* c.create("a", thing("a"))
        const dup = yield* errorOf(c.create("a", thing("a", 5)))
        expect(dup).toMatchObject({ _tag: "AlreadyExists", resource: "things", name: "a" })
        expect(Option.getOrThrow(yield* c.get("a")).value.count).toBe(0)
        const missing = yield* errorOf(c.update("nope", thing("nope")))
        expect(missing).toMatchObject({ _tag: "NotFound", resource: "things", name: "nope" })
        const a2 = yield* c.update("a", thing("a", 1), a.revision)
        const stale = yield* errorOf(c.update("a", thing("a", 2), a.revision))
        expect(stale).toMatchObject({
          _tag: "VersionConflict",
          name: "a",
          expected: a.revision.toString(),
          actual: a2.revision.toString(),
        })
        expect((yield* errorOf(c.delete("a", a.revision)))._tag).toBe("VersionConflict")
        expect((yield* errorOf(c.update("nope", thing("nope"), 1n)))._tag).toBe("VersionConflict")
        expect(Option.getOrThrow(yield* c.get("a")).value.count).toBe(1)
        expect(yield* c.delete("a", a2.revision)).toBe(true)
        expect((yield* errorOf(c.create("", thing(""))))._tag).toBe("StorageError")
      })))

  t("list: sorted by key, prefix filters, pagination", () =>
    withStore(f, (c) =>
      Effect.gen(function*() {
        const keys = ["b/2", "a/1", "ab", "a/3", "b/1", "a/2", "c", "a/10"]
        yield* Effect.forEach(keys, (k) => c.create(k, thing(k)), { concurrency: 4 })
        const all = yield* c.list()
        expect(all.items.map((i) => i.key)).toEqual([...keys].sort())
        expect(all.nextCursor).toBeUndefined()
        expect((yield* c.list({ prefix: "a/" })).items.map((i) => i.key)).toEqual(["a/1", "a/10", "a/2", "a/3"])
        expect((yield* c.list({ prefix: "a" })).items.map((i) => i.key)).toEqual(["a/1", "a/10", "a/2", "a/3", "ab"])
        expect((yield* c.list({ prefix: "zz" })).items).toEqual([])
        const p1 = yield* c.list({ prefix: "a", limit: 2 })
        expect(p1.items.map((i) => i.key)).toEqual(["a/1", "a/10"])
        const p2 = yield* c.list({ prefix: "a", limit: 2, cursor: p1.nextCursor })
        expect(p2.items.map((i) => i.key)).toEqual(["a/2", "a/3"])
        const p3 = yield* c.list({ prefix: "a", limit: 2, cursor: p2.nextCursor })
        expect(p3.items.map((i) => i.key)).toEqual(["ab"])
        expect(p3.nextCursor).toBeUndefined()
        // A full last page may still say "more" only if a key follows.
        const exact = yield* c.list({ prefix: "b/", limit: 2 })
        expect(exact.nextCursor).toBeUndefined()
        expect(yield* errorOf(c.list({ cursor: "!!not a cursor" }))).toMatchObject({ _tag: "ValidationError" })
        expect(yield* errorOf(c.list({ limit: 0 }))).toMatchObject({ _tag: "ValidationError" })
        // After a key of the caller's own (which need not exist), exclusive.
        expect((yield* c.list({ prefix: "a", after: "a/10", limit: 2 })).items.map((i) => i.key)).toEqual([
          "a/2",
          "a/3",
        ])
        expect((yield* c.list({ after: "a/2x" })).items.map((i) => i.key)).toEqual(["a/3", "ab", "b/1", "b/2", "c"])
        expect(yield* errorOf(c.list({ after: "a", cursor: p1.nextCursor }))).toMatchObject({ _tag: "ValidationError" })
      })))

  t(
    "list: a page ends before its documents pass maxBytes, with at least one document",
    () =>
      withStore(f, (c) =>
        Effect.gen(function*() {
          const keys = ["p1", "p2", "p3", "p4", "p5"]
          yield* Effect.forEach(keys, (k) => c.create(k, thing(k, 1)))
          // Each stores the same text length; read some first so pages mix remembered and new documents.
          const size = JSON.stringify({ ...thing("p1", 1), tag: "10" }).length
          yield* c.get("p2")
          yield* c.get("p3")
          const first = yield* c.list({ limit: 10, maxBytes: 2.5 * size })
          expect(first.items.map((i) => i.key)).toEqual(["p1", "p2"])
          expect(first.bytes).toBe(2 * size)
          const seen = [...first.items.map((i) => i.key)]
          let cursor = first.nextCursor
          while (cursor !== undefined) {
            const page = yield* c.list({ limit: 10, maxBytes: 2.5 * size, cursor })
            expect(page.bytes).toBeLessThanOrEqual(2.5 * size)
            seen.push(...page.items.map((i) => i.key))
            cursor = page.nextCursor
          }
          expect(seen).toEqual(keys)
          // Smaller than one document: one per page, never none.
          const one = yield* c.list({ maxBytes: 1 })
          expect(one.items.map((i) => i.key)).toEqual(["p1"])
          expect(one.nextCursor).toBeDefined()
          // Exactly the rest fits: the last page says no more.
          const rest = yield* c.list({ maxBytes: 2 * size, cursor: first.nextCursor, limit: 10 })
          expect(rest.items.map((i) => i.key)).toEqual(["p3", "p4"])
          expect((yield* c.list({ maxBytes: 5 * size })).nextCursor).toBeUndefined()
          expect((yield* c.list()).bytes).toBe(5 * size)
          expect(yield* errorOf(c.list({ maxBytes: 0 }))).toMatchObject({ _tag: "ValidationError" })
        })),
  )

  t("pagination stays stable while others write", () =>
    withStore(f, (c) =>
      Effect.gen(function*() {
        const key = (i: number) => `k${String(i).padStart(3, "0")}`
        yield* Effect.forEach(Array.from({ length: 60 }, (_, i) => i * 2), (i) => c.create(key(i), thing(key(i), i)), {
          concurrency: 8,
        })
        const seen: string[] = []
        let cursor: string | undefined
        let round = 0
        do {
          const page: { items: ReadonlyArray<{ key: string }>; nextCursor: string | undefined } = yield* c.list({
            limit: 7,
            cursor,
          })
          seen.push(...page.items.map((i) => i.key))
          cursor = page.nextCursor
          // Between pages: insert odd keys on both sides of the cursor, delete one ahead, update one behind.
          round++
          yield* c.create(key(round * 4 + 1), thing("odd"))
          yield* c.delete(key(Math.min(118, round * 12 + 50)))
          if (seen[0] !== undefined) yield* c.update(seen[0], thing("touched"))
        } while (cursor !== undefined)
        expect(seen).toEqual([...seen].sort())
        expect(new Set(seen).size).toBe(seen.length)
        // Every even key never deleted must have been seen exactly once.
        const deleted = new Set(Array.from({ length: round }, (_, r) => key(Math.min(118, (r + 1) * 12 + 50))))
        for (let i = 0; i < 120; i += 2) if (!deleted.has(key(i))) expect(seen).toContain(key(i))
      })))

  t(
    "50 parallel compare-and-swap updates: exactly the winners are applied",
    () =>
      withStore(f, (c) =>
        Effect.gen(function*() {
          const start = yield* c.create("counter", thing("counter", 0))
          const results = yield* Effect.forEach(
            Array.from({ length: 50 }, (_, i) => i),
            (i) => Effect.result(c.update("counter", { ...thing("counter", 1), name: `winner-${i}` }, start.revision)),
            {
              concurrency: "unbounded",
            },
          )
          const wins = results.filter((r) => r._tag === "Success")
          expect(wins.length).toBe(1)
          for (const r of results) if (r._tag === "Failure") expect(r.failure._tag).toBe("VersionConflict")
          const final = Option.getOrThrow(yield* c.get("counter"))
          expect(wins[0]?._tag === "Success" && final.revision === wins[0].success.revision).toBe(true)
          // Read-modify-write with retry on conflict: no increment is lost.
          const increment = Effect.gen(function*() {
            const cur = Option.getOrThrow(yield* c.get("counter"))
            yield* c.update("counter", thing("counter", cur.value.count + 1), cur.revision)
          }).pipe(Effect.retry({ while: (e) => e._tag === "VersionConflict" }))
          yield* Effect.forEach(Array.from({ length: 50 }), () => increment, {
            concurrency: "unbounded",
            discard: true,
          })
          expect(Option.getOrThrow(yield* c.get("counter")).value.count).toBe(51)
          // Unconditional updates all succeed, each with its own revision.
          const revs = yield* Effect.forEach(
            Array.from({ length: 50 }, (_, i) => i),
            (i) => c.update("counter", thing("counter", 1000 + i)),
            { concurrency: "unbounded" },
          )
          expect(new Set(revs.map((r) => r.revision)).size).toBe(50)
        })),
  )

  watchTests(f)

  if (f.persistent) {
    t("persists across reopen", async () => {
      const name = `persist${Date.now().toString(36)}${seq++}`
      const before = await withStore(f, (c) =>
        Effect.gen(function*() {
          yield* c.create("x", thing("x", 1))
          yield* c.create("y", thing("y", 2))
          yield* c.delete("y")
          return yield* c.update("x", thing("x", 3))
        }), name)
      await withStore(f, (c) =>
        Effect.gen(function*() {
          expect(Option.getOrThrow(yield* c.get("x"))).toEqual(before)
          expect(Option.isNone(yield* c.get("y"))).toBe(true)
          const next = yield* c.create("z", thing("z"))
          expect(next.revision > before.revision).toBe(true)
          // Listing after a reopen sees what was stored before and written since, with revisions.
          const page = yield* c.list()
          expect(page.items.map((i) => [i.key, i.revision])).toEqual([["x", before.revision], ["z", next.revision]])
          yield* c.delete("x")
          expect((yield* c.list()).items.map((i) => i.key)).toEqual(["z"])
        }), name)
    })
  }
}
