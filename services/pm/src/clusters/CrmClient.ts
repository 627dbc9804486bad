import { Clock, Effect, Option, Redacted, Schema, Stream } from "effect"
import {
  type Condition,
  conditionFromProto,
  type DeploymentPhase,
  type DeploymentUnit,
  deploymentUnitToProto,
  type FunctionReadiness,
  type NfrReport,
  protoEnum,
} from "@oprc/models"
import { crmv1 } from "@oprc/proto"
import { CircuitBreaker, makeClient, type RpcClientError } from "@oprc/rpc"
import type { ClusterConfig, OrchestrationConfig } from "../config"
import { recordBreaker, recordCrmCall } from "../Metrics"

/** A call to a cluster's CRM failed; `code` is the Connect code name, or "circuit_open". */
export class CrmError extends Schema.TaggedError<CrmError>()("CrmError", {
  cluster: Schema.String,
  method: Schema.String,
  code: Schema.String,
  reason: Schema.String,
}) {
  override get message(): string {
    return `${this.method} on cluster ${this.cluster} failed (${this.code}): ${this.reason}`
  }
}

/** What a CRM reports about one unit (the domain form of crmv1.DeploymentUnitStatus). */
export interface UnitStatus {
  readonly unitId: string
  readonly phase: DeploymentPhase
  readonly conditions: ReadonlyArray<Condition>
  readonly observedGeneration: number
  readonly message: string
  readonly functions: ReadonlyArray<FunctionReadiness>
  /** The NFR analyzer's recommendation, when it made one. */
  readonly nfr: NfrReport | undefined
}

interface ClusterInfo {
  readonly healthy: boolean
  readonly nodeCount: number
  readonly readyNodes: number
  readonly availability: number
  readonly message: string
}

/** One cluster's CRM, as Effects over domain types; every call goes through the cluster's breaker. */
export interface CrmClient {
  readonly cluster: string
  readonly url: string
  readonly breaker: CircuitBreaker
  readonly apply: (unit: DeploymentUnit) => Effect.Effect<UnitStatus, CrmError>
  /** false when the unit did not exist. */
  readonly remove: (unitId: string) => Effect.Effect<boolean, CrmError>
  /** None when the CRM does not know the unit (it lost it, or it was never applied). */
  readonly get: (unitId: string) => Effect.Effect<Option.Option<UnitStatus>, CrmError>
  readonly info: Effect.Effect<ClusterInfo, CrmError>
  /** Every unit's status changes, current state first; ends or fails when the connection does. */
  readonly watch: Stream.Stream<UnitStatus, CrmError>
}

export const makeCrmClient = (cluster: ClusterConfig, options: OrchestrationConfig): CrmClient => {
  const breaker = new CircuitBreaker(cluster.name, {
    failureThreshold: options.breakerFailures,
    resetTimeoutMs: options.breakerResetMs,
    // The gauge follows every transition, not only health polls.
    onStateChange: (state) => Effect.runSync(recordBreaker(cluster.name, state)),
  })
  const token = cluster.token
  const common = {
    baseUrl: cluster.url,
    timeoutMs: options.crmTimeoutMs,
    // A reconcile pass retries once; longer outages are the reconciler's requeue, not a client loop.
    retry: { maxAttempts: 2, baseDelayMs: 50, maxDelayMs: 250 },
    breaker,
    ...(token === undefined ? {} : { headers: () => ({ authorization: `Bearer ${Redacted.value(token)}` }) }),
    ...(cluster.tls === undefined ? {} : { tls: cluster.tls }),
  }
  const runtime = makeClient(crmv1.RuntimeService, common)
  const infoClient = makeClient(crmv1.ClusterInfoService, {
    ...common,
    retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
  })

  const fail = (method: string) => (e: RpcClientError) =>
    new CrmError({ cluster: cluster.name, method, code: e.code, reason: e.reason })

  /** Times the call, counts failures by code, and tags them with the cluster. */
  const call = <A>(
    method: string,
    effect: Effect.Effect<A, RpcClientError>,
    expected?: (e: RpcClientError) => boolean,
  ) =>
    Effect.gen(function*() {
      const started = yield* Clock.currentTimeMillis
      const seconds = Effect.map(Clock.currentTimeMillis, (now) => (now - started) / 1000)
      return yield* effect.pipe(
        Effect.tap(() => Effect.flatMap(seconds, (s) => recordCrmCall(cluster.name, method, s, undefined))),
        Effect.tapError((e) =>
          Effect.flatMap(seconds, (s) => recordCrmCall(cluster.name, method, s, expected?.(e) ? undefined : e.code))
        ),
        Effect.mapError(fail(method)),
      )
    }).pipe(Effect.withSpan(`Crm.${method}`, { attributes: { "oprc.cluster": cluster.name } }))

  const toStatus =
    (method: string) => (s: crmv1.DeploymentUnitStatus | undefined): Effect.Effect<UnitStatus, CrmError> =>
      s === undefined
        ? Effect.fail(
          new CrmError({ cluster: cluster.name, method, code: "bad_response", reason: "the CRM sent no status" }),
        )
        : Effect.forEach(s.conditions, conditionFromProto).pipe(
          Effect.map((conditions): UnitStatus => ({
            unitId: s.unitId,
            phase: protoEnum.phase.literalOr(s.phase, "Pending"),
            conditions,
            observedGeneration: Number(s.observedGeneration),
            message: s.message,
            functions: s.functions.map((f) => ({
              function: f.function,
              desiredReplicas: f.desiredReplicas,
              readyReplicas: f.readyReplicas,
              message: f.message,
            })),
            nfr: s.recommendation === undefined ? undefined : {
              recommendedReplicas: s.recommendation.replicas,
              observedRps: s.recommendation.observedRps,
              observedP99Ms: s.recommendation.observedP99Ms,
              reason: s.recommendation.reason,
            },
          })),
          Effect.mapError((e) =>
            new CrmError({ cluster: cluster.name, method, code: "bad_response", reason: e.message })
          ),
        )

  const notFound = (e: RpcClientError) => e.code === "not_found"

  return {
    cluster: cluster.name,
    url: cluster.url,
    breaker,
    apply: (unit) =>
      call("ApplyDeploymentUnit", runtime.applyDeploymentUnit({ unit: deploymentUnitToProto(unit) })).pipe(
        Effect.flatMap((r) => toStatus("ApplyDeploymentUnit")(r.status)),
      ),
    remove: (unitId) =>
      call("DeleteDeploymentUnit", runtime.deleteDeploymentUnit({ unitId })).pipe(Effect.map((r) => r.existed)),
    get: (unitId) =>
      call("GetDeploymentUnit", runtime.getDeploymentUnit({ unitId }), notFound).pipe(
        Effect.flatMap((r) => Effect.map(toStatus("GetDeploymentUnit")(r.status), Option.some)),
        Effect.catchIf((e) => e.code === "not_found", () => Effect.succeed(Option.none<UnitStatus>())),
      ),
    info: call("GetClusterInfo", infoClient.getClusterInfo({})).pipe(
      Effect.map((r): ClusterInfo => ({
        healthy: r.healthy,
        nodeCount: r.nodeCount,
        readyNodes: r.readyNodes,
        availability: Number.isFinite(r.availability) ? Math.min(Math.max(r.availability, 0), 1) : 0,
        message: r.message,
      })),
    ),
    watch: runtime.watchDeploymentUnits({}).pipe(
      Stream.mapError(fail("WatchDeploymentUnits")),
      Stream.mapEffect((r) => toStatus("WatchDeploymentUnits")(r.status)),
    ),
  }
}
