// The conformance suite on a real single nats-server (R1); persistence = SIGKILL and restart it.
import { afterAll, beforeAll, expect, test } from "bun:test"
import { ObjectStoreService } from "../../src/storage/ObjectStore.ts"
import { conformance, newNamespace, type Backend } from "./conformance.ts"
import { commitRate, rawNatsCasRate } from "./bench.ts"
import { startRestartableNats, type RestartableNats } from "./natsServer.ts"

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
  console.log(`nats R1 commits/s, 32 writers: ${withEvents} with one outbox event each, ${plain} without; raw client get+CAS loop ${raw}`)
  expect(plain).toBeGreaterThan(100)
}, 30_000)
