import { expect, test } from "bun:test"
import { Effect, Fiber, Option, Schedule, Schema, Stream } from "effect"
import { Etcd3 } from "etcd3"
import { startEtcdCluster } from "@oprc/test-harness"
import { type Change, ControlPlaneStore } from "../src/index.ts"

const Doc = Schema.Struct({ v: Schema.Number })
const until = Schedule.spaced("50 millis").pipe(Schedule.upTo({ duration: "15 seconds" }))
const summary = (
  c: Change<{ readonly v: number }>,
) => (c._tag === "Put" ? `put ${c.item.key}=${c.item.value.v}` : `delete ${c.key}`)

test("the store reconnects to a restarted member and re-lists when its watch revision was compacted", async () => {
  const cluster = await startEtcdCluster(3)
  // The store talks to member 0 only; the others keep the cluster writable while it is down.
  const others = new Etcd3({ hosts: cluster.endpoints.slice(1) })
  try {
    await Effect.runPromise(
      Effect.gen(function*() {
        const store = yield* ControlPlaneStore
        const docs = store.collection("docs", Doc)
        yield* docs.create("keep", { v: 1 })
        yield* docs.create("gone", { v: 1 })
        yield* docs.create("changed", { v: 1 })
        const changes = yield* docs.subscribe()
        const seen = yield* changes.pipe(Stream.map(summary), Stream.take(3), Stream.runCollect, Effect.forkChild)

        yield* Effect.promise(() => cluster.kill(0))
        // /readyz must notice: the cache can no longer be trusted.
        const down = yield* store.ready.pipe(Effect.flip, Effect.retry(until))
        expect(down.retryable).toBe(true)

        // Changes the store cannot see, then a compaction past its watch revision.
        const p = "/reconnect/docs/"
        yield* Effect.promise(async () => {
          await others.delete().key(`${p}gone`)
          await others.put(`${p}changed`).value(JSON.stringify({ v: 2 }))
          await others.put(`${p}added`).value(JSON.stringify({ v: 3 }))
          const { header } = await others.kv.range({ key: Buffer.from(`${p}keep`) })
          await others.kv.compact({ revision: header.revision, physical: true })
        })
        yield* Effect.promise(() => cluster.restart(0))

        yield* store.ready.pipe(Effect.retry(until))
        // The cache re-listed: it reflects every change made while it was away...
        const state = docs.list().pipe(Effect.map((page) => page.items.map((i) => `${i.key}=${i.value.v}`).join(" ")))
        const listed = yield* state.pipe(
          Effect.filterOrFail((s) => s === "added=3 changed=2 keep=1"),
          Effect.retry(until),
          Effect.catch(() => state),
        )
        expect(listed).toBe("added=3 changed=2 keep=1")
        // ...and watchers got them as changes (plain JSON written by another client decodes too).
        expect([...(yield* Fiber.join(seen))].sort()).toEqual(["delete gone", "put added=3", "put changed=2"])
        // It serves writes again, and reads see them.
        const again = yield* docs.update("keep", { v: 4 })
        expect(Option.getOrThrow(yield* docs.get("keep")).revision).toBe(again.revision)
      }).pipe(
        Effect.scoped,
        Effect.provide(ControlPlaneStore.layerEtcd({ endpoints: cluster.endpoints.slice(0, 1), prefix: "/reconnect" })),
      ),
    )
  } finally {
    others.close()
    await cluster.stop()
  }
}, 60_000)
