import { Clock, Context, Effect, Layer, PubSub, Ref, Schedule, Stream } from "effect"
import { NotFound } from "@oprc/models"
import type { BreakerState } from "@oprc/rpc"
import type { ClusterConfig, OrchestrationConfig } from "../config"
import { recordCluster } from "../Metrics"
import { type CrmClient, makeCrmClient } from "./CrmClient"

type ClusterHealth = "Unknown" | "Healthy" | "Degraded" | "Unreachable"

/** What the PM knows about one cluster, from its config and its last health poll. */
export interface ClusterState {
  readonly name: string
  readonly url: string
  readonly health: ClusterHealth
  readonly breaker: BreakerState
  /** As the CRM reports it (0..1); 0 until the first successful poll. */
  readonly availability: number
  readonly nodeCount: number
  readonly readyNodes: number
  readonly message: string
  readonly lastChecked: number | undefined
  readonly consecutiveFailures: number
}

/** The clusters from the PM's configuration: a CRM client and circuit breaker each, health polled in the background. */
export class ClusterRegistry extends Context.Service<ClusterRegistry, {
  readonly names: ReadonlyArray<string>
  readonly client: (name: string) => CrmClient | undefined
  readonly list: Effect.Effect<ReadonlyArray<ClusterState>>
  readonly get: (name: string) => Effect.Effect<ClusterState, NotFound>
  /** Names of clusters whose CRM answers again after not answering (a cue to re-dispatch there). */
  readonly recovered: Stream.Stream<string>
}>()("pm/ClusterRegistry") {
  static readonly layer = (clusters: ReadonlyArray<ClusterConfig>, options: OrchestrationConfig) =>
    Layer.effect(ClusterRegistry)(
      Effect.gen(function*() {
        const clients = new Map(clusters.map((c) => [c.name, makeCrmClient(c, options)]))
        const states = yield* Ref.make(
          new Map<string, ClusterState>(clusters.map((c) => [c.name, {
            name: c.name,
            url: c.url,
            health: "Unknown",
            breaker: "closed",
            availability: 0,
            nodeCount: 0,
            readyNodes: 0,
            message: "not polled yet",
            lastChecked: undefined,
            consecutiveFailures: 0,
          }])),
        )
        const recovered = yield* PubSub.unbounded<string>()
        yield* Effect.addFinalizer(() => PubSub.shutdown(recovered))

        const poll = (client: CrmClient) =>
          Effect.gen(function*() {
            const result = yield* Effect.result(client.info)
            const now = yield* Clock.currentTimeMillis
            const before = (yield* Ref.get(states)).get(client.cluster)!
            const next: ClusterState = result._tag === "Success"
              ? {
                ...before,
                health: result.success.healthy ? "Healthy" : "Degraded",
                breaker: client.breaker.state,
                availability: result.success.availability,
                nodeCount: result.success.nodeCount,
                readyNodes: result.success.readyNodes,
                message: result.success.message,
                lastChecked: now,
                consecutiveFailures: 0,
              }
              : {
                ...before,
                health: "Unreachable",
                breaker: client.breaker.state,
                message: result.failure.code === "circuit_open"
                  ? `circuit open: ${result.failure.reason}`
                  : result.failure.reason,
                lastChecked: now,
                consecutiveFailures: before.consecutiveFailures + 1,
              }
            yield* Ref.update(states, (m) => new Map(m).set(client.cluster, next))
            yield* recordCluster(client.cluster, {
              breaker: next.breaker,
              up: result._tag === "Success",
              availability: next.availability,
            })
            const wasDown = before.health === "Unreachable" || before.health === "Unknown"
            if (wasDown && next.health !== "Unreachable") {
              yield* Effect.logInfo(`cluster ${client.cluster} is reachable (${next.health})`)
              yield* PubSub.publish(recovered, client.cluster)
            } else if (!wasDown && next.health === "Unreachable") {
              yield* Effect.logWarning(`cluster ${client.cluster} is unreachable: ${next.message}`)
            }
          })

        yield* Effect.forEach(
          [...clients.values()],
          (client) => poll(client).pipe(Effect.repeat(Schedule.spaced(options.healthIntervalMs)), Effect.forkScoped),
          { discard: true },
        )

        const current = (name: string) =>
          Effect.map(Ref.get(states), (m) => {
            const s = m.get(name)
            const client = clients.get(name)
            // The breaker moves on every call, not only on polls.
            return s === undefined || client === undefined ? undefined : { ...s, breaker: client.breaker.state }
          })

        return {
          names: clusters.map((c) => c.name),
          client: (name) => clients.get(name),
          list: Effect.forEach(clusters, (c) => current(c.name)).pipe(
            Effect.map((all) => all.filter((s): s is ClusterState => s !== undefined)),
          ),
          get: (name) =>
            Effect.flatMap(
              current(name),
              (s) => (s === undefined ? Effect.fail(new NotFound({ resource: "cluster", name })) : Effect.succeed(s)),
            ),
          recovered: Stream.fromPubSub(recovered),
        }
      }),
    )
}
