import { Effect, Metric } from "effect"
import type { DeploymentPhase } from "@oprc/models"
import { labelled, latencyBuckets } from "@oprc/observability"

/** The PM's own metrics, next to the per-method RPC/REST latency histograms the server records. */

const deployments = Metric.gauge("oprc_pm_deployments", {
  description: "deployments known to this PM, by overall phase",
})
const crmErrors = Metric.counter("oprc_pm_crm_call_errors_total", {
  description: "failed calls to a cluster's CRM, by cluster, method and code",
  incremental: true,
})
const crmLatency = Metric.histogram("oprc_pm_crm_call_duration_seconds", {
  description: "calls to a cluster's CRM, by cluster and method",
  boundaries: latencyBuckets,
})
const breaker = Metric.gauge("oprc_pm_cluster_breaker_state", {
  description: "circuit breaker per cluster: 0 closed, 1 half-open, 2 open",
})
const up = Metric.gauge("oprc_pm_cluster_up", { description: "1 when the cluster's CRM answered the last health poll" })
const availability = Metric.gauge("oprc_pm_cluster_availability", {
  description: "availability the cluster's CRM reports (0..1)",
})
const passes = Metric.counter("oprc_pm_reconcile_passes_total", {
  description: "reconcile passes, by result",
  incremental: true,
})

const deploymentsBy = labelled(deployments, ["phase"])
const crmErrorsBy = labelled(crmErrors, ["cluster", "method", "code"])
const crmLatencyBy = labelled(crmLatency, ["cluster", "method"])

const phases: ReadonlyArray<DeploymentPhase> = ["Pending", "Deploying", "Running", "Degraded", "Failed", "Deleting"]

export const recordPhases = (counts: ReadonlyMap<DeploymentPhase, number>) =>
  Effect.forEach(phases, (p) => Metric.update(deploymentsBy({ phase: p }), counts.get(p) ?? 0), { discard: true })

export const recordCrmCall = (cluster: string, method: string, seconds: number, code: string | undefined) =>
  Effect.all([
    Metric.update(crmLatencyBy({ cluster, method }), seconds),
    code === undefined ? Effect.void : Metric.update(crmErrorsBy({ cluster, method, code }), 1),
  ], { discard: true })

const breakerValue = { closed: 0, "half-open": 1, open: 2 } as const

export const recordBreaker = (cluster: string, state: keyof typeof breakerValue) =>
  Metric.update(Metric.withAttributes(breaker, { cluster }), breakerValue[state])

export const recordCluster = (
  cluster: string,
  state: { breaker: keyof typeof breakerValue; up: boolean; availability: number },
) =>
  Effect.all([
    recordBreaker(cluster, state.breaker),
    Metric.update(Metric.withAttributes(up, { cluster }), state.up ? 1 : 0),
    Metric.update(Metric.withAttributes(availability, { cluster }), state.availability),
  ], { discard: true })

export const recordPass = (result: "ok" | "retry" | "error") =>
  Metric.update(Metric.withAttributes(passes, { result }), 1)
