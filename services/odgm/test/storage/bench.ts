// Commit throughput as a caller sees it: `concurrency` writers, each waiting for its commit to be
// acknowledged before the next; distinct objects, so no CAS conflicts.
import { Effect, type Layer } from "effect"
import { connect, headers } from "@nats-io/transport-node"
import { jetstream } from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import { ObjectStoreService, type StorageError } from "../../src/storage/ObjectStore.ts"

export const commitRate = (
  layer: Layer.Layer<ObjectStoreService, StorageError>,
  concurrency: number,
  durationMs: number,
  withEvents = true,
) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const store = yield* ObjectStoreService
      // Warm up first: the NATS engine creates the class's bucket on its first write.
      yield* store.commit({
        ref: { cls: "bench", partition: 0, id: "warm-up" },
        next: { entries: {}, triggers: [] },
        expectedVersion: undefined,
        events: [],
      })
      let done = 0
      const end = Date.now() + durationMs
      const worker = (w: number) =>
        Effect.gen(function*() {
          for (let i = 0; Date.now() < end; i++) {
            yield* store.commit({
              ref: { cls: "bench", partition: 0, id: `w${w}-${i % 100}` },
              next: { entries: { n: { _tag: "Json", value: i } }, triggers: [] },
              expectedVersion: undefined,
              events: withEvents ? [{ id: `w${w}-e${i}-${end}`, payload: { i }, availableAt: 0 }] : [],
            })
            done++
          }
        })
      const started = Date.now()
      yield* Effect.forEach(Array.from({ length: concurrency }, (_, w) => w), worker, {
        concurrency: "unbounded",
        discard: true,
      })
      return Math.round((done * 1000) / (Date.now() - started))
    }).pipe(Effect.provide(layer)),
  )

/**
 * The same CAS loop (get, then publish with expected revision and msgID) straight on the NATS
 * client, without the store: the ceiling this machine gives right now, to read the store's rate against.
 */
export async function rawNatsCasRate(
  servers: string[],
  replicas: number,
  concurrency: number,
  durationMs: number,
): Promise<number> {
  const nc = await connect({ servers })
  const bucket = `raw_${Date.now().toString(36)}`
  const kv = await new Kvm(jetstream(nc)).create(bucket, { replicas, allow_direct: false })
  const js = jetstream(nc)
  const end = Date.now() + durationMs
  const started = Date.now()
  let done = 0
  await Promise.all(Array.from({ length: concurrency }, async (_, w) => {
    for (let i = 0; Date.now() < end; i++) {
      const key = `w${w}.${i % 100}`
      const rev = (await kv.get(key))?.revision ?? 0
      const h = headers()
      h.set("Nats-Expected-Last-Subject-Sequence", String(rev))
      await js.publish(`$KV.${bucket}.${key}`, JSON.stringify({ i }), { headers: h, msgID: `${key}@${rev}` })
      done++
    }
  }))
  await kv.destroy()
  await nc.close()
  return Math.round((done * 1000) / (Date.now() - started))
}
