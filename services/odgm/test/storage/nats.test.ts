// The conformance suite on a real single nats-server (R1); persistence = SIGKILL and restart it.
import { afterAll, beforeAll } from "bun:test"
import { ObjectStoreService } from "../../src/storage/ObjectStore.ts"
import { conformance, type Backend } from "./conformance.ts"
import { startRestartableNats, type RestartableNats } from "./natsServer.ts"

let server: RestartableNats
let backend: Backend
beforeAll(async () => {
  server = await startRestartableNats()
  backend = {
    layer: (ns) => ObjectStoreService.layerNats({ servers: [server.url], replicas: 1, bucketPrefix: ns }),
    persistent: true,
    restart: () => server.restart(),
  }
})
afterAll(() => server?.stop())

conformance("nats R1", () => backend)
