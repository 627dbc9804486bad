import { timestampFromMs } from "@bufbuild/protobuf/wkt"
import { Effect } from "effect"
import { pmv1 } from "@oprc/proto"
import { rpcService } from "@oprc/rpc"
import { ClusterRegistry, type ClusterState } from "../clusters/ClusterRegistry"

const health = {
  Unknown: pmv1.ClusterHealth.UNSPECIFIED,
  Healthy: pmv1.ClusterHealth.HEALTHY,
  Degraded: pmv1.ClusterHealth.DEGRADED,
  Unreachable: pmv1.ClusterHealth.UNREACHABLE,
} as const

const breaker = {
  closed: pmv1.BreakerState.CLOSED,
  open: pmv1.BreakerState.OPEN,
  "half-open": pmv1.BreakerState.HALF_OPEN,
} as const

const toProto = (c: ClusterState) => ({
  name: c.name,
  url: c.url,
  health: health[c.health],
  breaker: breaker[c.breaker],
  availability: c.availability,
  nodeCount: c.nodeCount,
  readyNodes: c.readyNodes,
  message: c.message,
  ...(c.lastChecked === undefined ? {} : { lastChecked: timestampFromMs(c.lastChecked) }),
  consecutiveFailures: c.consecutiveFailures,
})

/** oprc.pm.v1.ClusterService: the configured clusters with health, breaker state and availability. */
export const clusterRpc = rpcService(
  pmv1.ClusterService,
  Effect.gen(function*() {
    const registry = yield* ClusterRegistry
    return {
      listClusters: (_req: pmv1.ListClustersRequest) =>
        Effect.map(registry.list, (cs) => ({ clusters: cs.map(toProto) })),
      getCluster: (req: pmv1.GetClusterRequest) => Effect.map(registry.get(req.name), (c) => ({ cluster: toProto(c) })),
    }
  }),
)
