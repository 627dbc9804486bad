import { cpus, freemem, totalmem } from "node:os"
import { Effect } from "effect"
import { Health } from "@oprc/observability"
import { crmv1 } from "@oprc/proto"
import { rpcService, VERSION } from "@oprc/rpc"
import { Driver } from "../driver/Driver"
import { Runtime } from "../runtime/Runtime"

/**
 * oprc.crm.v1.ClusterInfoService: healthy when storage and ODGM answer; availability is the share
 * of units that are Available (1 with none); capacity is this machine's CPUs and memory.
 */
export const clusterInfoRpc = (cluster: string) =>
  rpcService(
    crmv1.ClusterInfoService,
    Effect.gen(function*() {
      const runtime = yield* Runtime
      const driver = yield* Driver
      const health = yield* Health
      return {
        getClusterInfo: (_req: crmv1.GetClusterInfoRequest) =>
          Effect.gen(function*() {
            const readiness = yield* health.readiness
            const summary = yield* runtime.summary
            const failing = readiness.checks.filter((c) => !c.ok)
            const healthy = readiness.ready
            return {
              cluster,
              driver: driver.name,
              healthy,
              nodeCount: 1,
              readyNodes: healthy ? 1 : 0,
              availability: !healthy ? 0 : summary.units === 0 ? 1 : summary.available / summary.units,
              message: healthy
                ? `${summary.available}/${summary.units} units available, ${summary.replicas} replicas`
                : failing.map((c) => `${c.name}: ${c.message ?? "failing"}`).join("; "),
              version: VERSION,
              cpuCores: cpus().length,
              memoryTotalBytes: BigInt(totalmem()),
              memoryAvailableBytes: BigInt(freemem()),
              units: summary.units,
              replicas: summary.replicas,
            }
          }),
      }
    }),
  )
