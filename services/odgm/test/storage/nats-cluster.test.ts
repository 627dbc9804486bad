// The conformance suite on a real 3-node JetStream cluster with R3 buckets and streams; the
// persistence case SIGKILLs all three servers and restarts them on their store dirs. Plus two
// stores (two ODGM processes' worth of connections) sharing the same collections and outbox.
import { afterAll, beforeAll, expect, test } from "bun:test"
import { Effect, Layer, Option, Schedule } from "effect"
import { startNatsCluster, type NatsCluster } from "../../../../test/harness/index.ts"
import { ObjectStoreService, type ObjectStore } from "../../src/storage/ObjectStore.ts"
import { makeNatsStore } from "../../src/storage/nats/NatsStore.ts"
import { claimUntil, conformance, newNamespace, type Backend } from "./conformance.ts"

let cluster: NatsCluster
let backend: Backend
beforeAll(async () => {
  cluster = await startNatsCluster(3)
  backend = {
    layer: (ns) => ObjectStoreService.layerNats({ servers: cluster.urls, replicas: 3, bucketPrefix: ns }),
    persistent: true,
    restart: async () => {
      for (const i of [0, 1, 2]) await cluster.kill(i)
      // In parallel: a lone node never reports healthy without a JetStream quorum.
      await Promise.all([0, 1, 2].map((i) => cluster.restart(i)))
    },
  }
}, 30_000)
afterAll(() => cluster?.stop())

conformance("nats R3 cluster", () => backend, 45_000)

test("two ODGM processes' stores over one cluster serve the same objects and share the outbox", async () => {
  const ns = newNamespace()
  // Each store on its own connection to a different node, as two processes would be.
  const open = (url: string) => makeNatsStore({ servers: [url], replicas: 3, bucketPrefix: ns })
  await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
    const a = yield* open(cluster.urls[0]!)
    const b = yield* open(cluster.urls[1]!)
    const ref = { cls: "shared.Counter", partition: 3, id: "c" }
    yield* a.commit({ ref, next: { entries: { n: { _tag: "Json", value: 0 } }, triggers: [] }, expectedVersion: 0n, events: [] })
    const increment = (s: ObjectStore, i: number) =>
      Effect.gen(function* () {
        const cur = Option.getOrThrow(yield* s.get(ref))
        yield* s.commit({
          ref,
          next: { entries: { n: { _tag: "Json", value: Number(cur.entries.n?.value) + 1 } }, triggers: [] },
          expectedVersion: cur.version,
          events: [{ id: `inc-${i}`, payload: { i }, availableAt: 0 }],
        })
      }).pipe(Effect.retry({ while: (e) => e._tag === "VersionConflict", schedule: Schedule.jittered(Schedule.spaced("10 millis")) }))
    yield* Effect.forEach(Array.from({ length: 60 }, (_, i) => i), (i) => increment(i % 2 ? a : b, i), { concurrency: 12, discard: true })
    const fromA = Option.getOrThrow(yield* a.get(ref))
    const fromB = Option.getOrThrow(yield* b.get(ref))
    expect([fromA.entries.n, fromA.version]).toEqual([{ _tag: "Json", value: 60 }, 61n])
    expect(fromB).toEqual(fromA)
    // Events committed through either store are claimed through the other's consumer too.
    const ids = Array.from({ length: 60 }, (_, i) => `inc-${i}`)
    const seen = yield* claimUntil(ids).pipe(Effect.provide(Layer.succeed(ObjectStoreService)(b)))
    expect([...seen.keys()].sort()).toEqual([...ids].sort())
  })))
}, 45_000)
