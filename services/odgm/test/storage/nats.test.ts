// The conformance suite on a real single nats-server (R1); persistence = SIGKILL and restart it.
import { afterAll, beforeAll, expect, test } from "bun:test"
import { Effect, ManagedRuntime } from "effect"
import { ObjectStoreService } from "../../src/storage/ObjectStore.ts"
import { type Backend, conformance, newNamespace } from "./conformance.ts"
import { commitRate, rawNatsCasRate } from "./bench.ts"
import { type RestartableNats, startRestartableNats } from "./natsServer.ts"

let server: RestartableNats
let backend: Backend
beforeAll(async () => {
  server = await startRestartableNats()
  backend = {
    layer: (ns) => ObjectStoreService.layerNats({ servers: [server.url], replicas: 1, bucketPrefix: ns }),
    restart: () => server.restart(),
  }
})
afterAll(() => server?.stop())

conformance("nats R1", () => backend)

test("nats R1: commit throughput, 32 writers", async () => {
  const withEvents = await commitRate(backend.layer(newNamespace()), 32, 2000)
  const plain = await commitRate(backend.layer(newNamespace()), 32, 2000, false)
  const raw = await rawNatsCasRate([server.url], 1, 32, 2000)
  console.log(
    `nats R1 commits/s, 32 writers: ${withEvents} with one outbox event each, ${plain} without; raw client get+CAS loop ${raw}`,
  )
  expect(plain).toBeGreaterThan(100)
}, 30_000)

test("nats R1: a listing on one node sees another node's creates and deletes (key index kept by a watch)", async () => {
  const ns = newNamespace()
  const [a, b] = [ManagedRuntime.make(backend.layer(ns)), ManagedRuntime.make(backend.layer(ns))]
  const cls = "pkg.Listed"
  const write = (id: string, next: null | object) =>
    a.runPromise(Effect.gen(function*() {
      return yield* (yield* ObjectStoreService).commit({
        ref: { cls, partition: 1, id },
        next: next === null ? null : { entries: {}, triggers: [] },
        expectedVersion: undefined,
        events: [],
      })
    }))
  const ids = () =>
    b.runPromise(Effect.gen(function*() {
      return yield* (yield* ObjectStoreService).list({ cls, prefix: "k", limit: 100 })
    })).then((p) => p.items.map((o) => o.id))
  const eventually = async (want: string[]) => {
    const until = Date.now() + 5000
    let got = await ids()
    while (JSON.stringify(got) !== JSON.stringify(want) && Date.now() < until) {
      await Bun.sleep(50)
      got = await ids()
    }
    return got
  }
  try {
    await write("k1", {})
    expect(await eventually(["k1"])).toEqual(["k1"]) // index built from the bucket's keys
    await write("k0", {})
    await write("x9", {})
    expect(await eventually(["k0", "k1"])).toEqual(["k0", "k1"]) // then kept current by the watch
    await write("k1", null)
    expect(await eventually(["k0"])).toEqual(["k0"])
  } finally {
    await Promise.all([a.dispose(), b.dispose()])
  }
})
