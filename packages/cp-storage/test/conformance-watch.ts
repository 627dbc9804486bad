import { expect, test } from "bun:test"
import { Deferred, Effect, Fiber, Stream } from "effect"
import type { Change } from "../src/index.ts"
import { type StoreFactory, Thing, thing, withStore } from "./conformance.ts"

const summary = (c: Change<Thing>) =>
  c._tag === "Put" ? `put ${c.item.key} ${c.item.value.count} @${c.item.revision}` : `delete ${c.key} @${c.revision}`

export function watchTests(f: StoreFactory): void {
  const t = (name: string, fn: () => Promise<void>) => test(name, fn, f.timeoutMs ?? 20_000)

  t(
    "watch: puts and deletes of its own kind, in commit order",
    () =>
      withStore(f, (c, store) =>
        Effect.gen(function*() {
          yield* c.create("before", thing("before"))
          const changes = yield* c.subscribe()
          const collected = yield* changes.pipe(Stream.take(4), Stream.runCollect, Effect.forkChild)
          const a = yield* c.create("a", thing("a", 1))
          yield* store.collection("others", Thing).create("x", thing("x"))
          const a2 = yield* c.update("a", thing("a", 2), a.revision)
          const b = yield* c.upsert("b", thing("b", 3))
          yield* c.delete("a")
          const got = (yield* Fiber.join(collected)).map(summary)
          expect(got.slice(0, 3)).toEqual([
            `put a 1 @${a.revision}`,
            `put a 2 @${a2.revision}`,
            `put b 3 @${b.revision}`,
          ])
          expect(got[3]).toMatch(/^delete a @\d+$/)
          expect(BigInt(got[3]!.split("@")[1]!) > b.revision).toBe(true)
        })),
  )

  t(
    "watch with includeExisting: the snapshot, then live changes, no gap, no duplicate",
    () =>
      withStore(f, (c) =>
        Effect.gen(function*() {
          yield* Effect.forEach(["c", "a", "b"], (k) => c.create(k, thing(k)), { discard: true })
          // Writers race the subscription; every final state must be reflected exactly once per revision.
          const writer = yield* Effect.forEach(
            Array.from({ length: 20 }, (_, i) => i),
            (i) => c.upsert(`w${i % 5}`, thing(`w${i % 5}`, i)),
            { concurrency: 4, discard: true },
          ).pipe(Effect.forkChild)
          const changes = yield* c.subscribe({ includeExisting: true })
          yield* Fiber.join(writer)
          const last = yield* c.create("zz-last", thing("last"))
          const got = yield* changes.pipe(
            Stream.takeUntil((ch) => ch._tag === "Put" && ch.item.key === "zz-last"),
            Stream.runCollect,
          )
          const puts = got.flatMap((ch) => (ch._tag === "Put" ? [ch.item] : []))
          expect(puts.slice(0, 3).map((p) => p.key)).toEqual(["a", "b", "c"])
          // No change twice, and in revision order (on etcd, writes committed in one txn share a revision).
          const seen = puts.map((p) => `${p.key}@${p.revision}`)
          expect(new Set(seen).size).toBe(seen.length)
          const revisions = puts.slice(3).map((p) => p.revision)
          expect(revisions).toEqual([...revisions].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
          // Replaying the changes yields exactly what a list says now.
          const state = new Map<string, bigint>()
          for (const ch of got) ch._tag === "Put" ? state.set(ch.item.key, ch.item.revision) : state.delete(ch.key)
          const listed = (yield* c.list()).items
          expect([...state.entries()].sort()).toEqual(listed.map((i) => [i.key, i.revision] as [string, bigint]))
          expect(state.get("zz-last")).toBe(last.revision)
        })),
  )

  t("watch: the plain stream delivers live changes once running", () =>
    withStore(f, (c) =>
      Effect.gen(function*() {
        const running = yield* Deferred.make<void>()
        const fiber = yield* c.watch({ includeExisting: true }).pipe(
          Stream.tap(() => Deferred.succeed(running, undefined)),
          Stream.take(2),
          Stream.runCollect,
          Effect.forkChild,
        )
        yield* c.create("first", thing("first"))
        // "first" arrives from the snapshot or live; after it, the subscription surely exists.
        yield* Deferred.await(running)
        yield* c.create("second", thing("second"))
        const keys = (yield* Fiber.join(fiber)).map((ch) => (ch._tag === "Put" ? ch.item.key : ch.key))
        expect(keys).toEqual(["first", "second"])
      })))
}
