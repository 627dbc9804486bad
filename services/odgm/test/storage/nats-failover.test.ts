// Kill the stream leader of a 3-node JetStream cluster (SIGKILL) in the middle of a write load:
// the store keeps serving, and every acknowledged write (and its outbox event) is still there.
// Also: two stores (two ODGM processes' connections) sharing collections and outbox; R3 rates.
import { afterAll, beforeAll, expect, test } from "bun:test"
import { Effect, Layer, Option, Schedule } from "effect"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { type NatsCluster, startNatsCluster } from "../../../../test/harness/index.ts"
import { type ObjectStore, ObjectStoreService } from "../../src/storage/ObjectStore.ts"
import { makeNatsStore } from "../../src/storage/nats/NatsStore.ts"
import { objectBucket } from "../../src/storage/nats/client.ts"
import { claimUntil, newNamespace } from "./conformance.ts"
import { commitRate, rawNatsCasRate } from "./bench.ts"

let cluster: NatsCluster
beforeAll(async () => {
  cluster = await startNatsCluster(3)
}, 30_000)
afterAll(() => cluster?.stop())

const WRITES = 2_000
const IN_FLIGHT = 8
const CLS = "load.Item"

/** Index of the node leading `stream`, asked through a node other than `avoid`. */
async function leaderOf(stream: string): Promise<number> {
  const nc = await connect({ servers: cluster.urls })
  const info = await (await jetstreamManager(nc)).streams.info(stream)
  await nc.close()
  return Number(info.cluster?.leader?.replace(/^n/, "")) - 1
}

test("SIGKILL of the stream leader during 2,000 commits: no acknowledged write or event is lost", async () => {
  const ns = newNamespace()
  const acked = new Map<number, { tag: string; version: bigint }>()
  const ackTimes: number[] = []
  let errors = 0
  let killed = -1
  let killing: Promise<void> | undefined
  await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const store = yield* makeNatsStore({ servers: cluster.urls, replicas: 3, bucketPrefix: ns })
    const write = (i: number) => {
      const tag = `v${i}-${Math.random().toString(36).slice(2, 8)}`
      const attempt = store.commit({
        ref: { cls: CLS, partition: i % 4, id: `item-${i}` },
        next: { entries: { tag: { _tag: "Json", value: tag } }, triggers: [] },
        expectedVersion: undefined,
        events: [{ id: `${ns}-ev-${i}`, payload: { i }, availableAt: 0 }],
      })
      // Retried until acknowledged, as a client would: StorageError is "try again".
      const untilAcked: Effect.Effect<void> = attempt.pipe(
        Effect.flatMap((stored) =>
          Effect.sync(() => {
            acked.set(i, { tag, version: stored!.version })
            ackTimes.push(Date.now())
          })
        ),
        Effect.catch(() =>
          Effect.sync(() => errors++).pipe(
            Effect.andThen(Effect.sleep("100 millis")),
            Effect.andThen(Effect.suspend(() => untilAcked)),
          )
        ),
      )
      return untilAcked.pipe(Effect.tap(() =>
        Effect.promise(async () => {
          if (acked.size === WRITES / 2 && killed < 0) {
            killed = await leaderOf(`KV_${objectBucket(ns, CLS)}`)
            killing = cluster.kill(killed)
            await killing
          }
        })
      ))
    }
    const started = Date.now()
    yield* Effect.forEach(Array.from({ length: WRITES }, (_, i) => i), write, { concurrency: IN_FLIGHT, discard: true })
    const elapsed = Date.now() - started
    const stall = ackTimes.slice(1).reduce((m, t, k) => Math.max(m, t - ackTimes[k]!), 0)
    console.log(
      `failover: ${WRITES} commits in ${elapsed} ms, killed n${
        killed + 1
      } (stream leader), longest ack gap ${stall} ms, ${errors} StorageErrors retried by the caller`,
    )
    expect(killed).toBeGreaterThanOrEqual(0)
    expect(acked.size).toBe(WRITES)

    // Every acknowledged write is readable with its value (through the surviving nodes).
    let lost = 0
    for (const [i, w] of acked) {
      const got = yield* store.get({ cls: CLS, partition: i % 4, id: `item-${i}` })
      const o = Option.getOrUndefined(got)
      if (!o || o.entries.tag?.value !== w.tag || o.version < w.version) lost++
    }
    expect(lost).toBe(0)
    // ...and so is the outbox event of every one of them.
    const ids = Array.from({ length: WRITES }, (_, i) => `${ns}-ev-${i}`)
    const seen = yield* claimUntil(ids, 60_000, 30_000).pipe(Effect.provide(Layer.succeed(ObjectStoreService)(store)))
    expect(ids.filter((id) => !seen.has(id))).toEqual([])
  })))
  await killing
  await cluster.restart(killed)
}, 90_000)

test("nats R3: commit throughput, 32 writers", async () => {
  const layer = () => ObjectStoreService.layerNats({ servers: cluster.urls, replicas: 3, bucketPrefix: newNamespace() })
  const withEvents = await commitRate(layer(), 32, 2000)
  const plain = await commitRate(layer(), 32, 2000, false)
  const raw = await rawNatsCasRate(cluster.urls, 3, 32, 2000)
  console.log(
    `nats R3 commits/s, 32 writers: ${withEvents} with one outbox event each, ${plain} without; raw client get+CAS loop ${raw}`,
  )
  expect(plain).toBeGreaterThan(50)
}, 30_000)

test("two ODGM processes' stores over one cluster serve the same objects and share the outbox", async () => {
  const ns = newNamespace()
  // Each store on its own connection to a different node, as two processes would be.
  const open = (url: string) => makeNatsStore({ servers: [url], replicas: 3, bucketPrefix: ns })
  await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const a = yield* open(cluster.urls[0]!)
    const b = yield* open(cluster.urls[1]!)
    const ref = { cls: "shared.Counter", partition: 3, id: "c" }
    yield* a.commit({
      ref,
      next: { entries: { n: { _tag: "Json", value: 0 } }, triggers: [] },
      expectedVersion: 0n,
      events: [],
    })
    const increment = (s: ObjectStore, i: number) =>
      Effect.gen(function*() {
        const cur = Option.getOrThrow(yield* s.get(ref))
        yield* s.commit({
          ref,
          next: { entries: { n: { _tag: "Json", value: Number(cur.entries.n?.value) + 1 } }, triggers: [] },
          expectedVersion: cur.version,
          events: [{ id: `inc-${i}`, payload: { i }, availableAt: 0 }],
        })
      }).pipe(Effect.retry({
        while: (e) => e._tag === "VersionConflict",
        schedule: Schedule.jittered(Schedule.spaced("10 millis")),
      }))
    yield* Effect.forEach(Array.from({ length: 60 }, (_, i) => i), (i) => increment(i % 2 ? a : b, i), {
      concurrency: 12,
      discard: true,
    })
    const fromA = Option.getOrThrow(yield* a.get(ref))
    const fromB = Option.getOrThrow(yield* b.get(ref))
    expect([fromA.entries.n, fromA.version]).toEqual([{ _tag: "Json", value: 60 }, 61n])
    expect(fromB).toEqual(fromA)
    // Events committed through either store are claimed through the other's consumer too.
    const ids = Array.from({ length: 60 }, (_, i) => `inc-${i}`)
    const seen = yield* claimUntil(ids).pipe(Effect.provide(Layer.succeed(ObjectStoreService)(b)))
    expect([...seen.keys()].sort()).toEqual([...ids].sort())
    // One process deletes the class; the other, still holding the old bucket, writes to it again.
    expect(yield* a.deleteClass(ref.cls)).toBe(1)
    const again = yield* b.commit({ ref, next: { entries: {}, triggers: [] }, expectedVersion: 0n, events: [] })
    expect(again?.version).toBe(1n)
    expect(Option.getOrThrow(yield* a.get(ref)).version).toBe(1n)
  })))
}, 45_000)
