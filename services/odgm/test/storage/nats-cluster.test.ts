// The conformance suite on a real 3-node JetStream cluster with R3 buckets and streams; the
// persistence case SIGKILLs all three servers and restarts them on their store dirs.
import { afterAll, beforeAll } from "bun:test"
import { type NatsCluster, startNatsCluster } from "../../../../test/harness/index.ts"
import { ObjectStoreService } from "../../src/storage/ObjectStore.ts"
import { type Backend, conformance } from "./conformance.ts"

let cluster: NatsCluster
let backend: Backend
beforeAll(async () => {
  // Restarting all three nodes recovers every bucket, stream and consumer the suite created;
  // /healthz stays 503 until all are current, which takes 10-20 s on a loaded 2-core machine.
  cluster = await startNatsCluster(3, { readyTimeoutMs: 45_000 })
  backend = {
    layer: (ns) => ObjectStoreService.layerNats({ servers: cluster.urls, replicas: 3, bucketPrefix: ns }),
    restart: async () => {
      for (const i of [0, 1, 2]) await cluster.kill(i)
      // In parallel: a lone node never reports healthy without a JetStream quorum.
      await Promise.all([0, 1, 2].map((i) => cluster.restart(i)))
    },
  }
}, 30_000)
afterAll(() => cluster?.stop())

conformance("nats R3 cluster", () => backend, 90_000)
