import { Effect, Metric } from "effect"
import { labelled, latencyBuckets, updateNow } from "@oprc/observability"

/**
 * ODGM's Prometheus metrics, labelled per class and function so the CRM's NFR analyzer can query
 * rate, errors and latency of each function, e.g.
 * `histogram_quantile(0.99, sum by (le) (rate(oprc_odgm_invocation_duration_seconds_bucket{cls="counter.Counter",fn="increment"}[1m])))`.
 */

const invocations = Metric.counter("oprc_odgm_invocations_total", {
  description:
    "Invocations answered, by class, function and status (ok, invalid, app_error, system_error, unavailable, deadline_exceeded, conflict, ...)",
  incremental: true,
})
const duration = Metric.histogram("oprc_odgm_invocation_duration_seconds", {
  description: "Invocation latency (queueing on the object, function call, commit), by class and function",
  boundaries: latencyBuckets,
})
const queueDepth = Metric.gauge("oprc_odgm_invocation_queue_depth", {
  description: "Invocations and writes queued or running on an object lock of this node, by class",
})
const conflicts = Metric.counter("oprc_odgm_invocation_conflicts_total", {
  description: "Invocations re-run because another node committed first, by class and function",
  incremental: true,
})
const deliveries = Metric.counter("oprc_odgm_trigger_deliveries_total", {
  description:
    "Outbox deliveries (triggers, async invocations), by target class, function and result (delivered, retry, dead_letter)",
  incremental: true,
})
const retries = Metric.counter("oprc_odgm_trigger_retries_total", {
  description: "Trigger deliveries scheduled for another attempt, by target class and function",
  incremental: true,
})
const deadLetters = Metric.counter("oprc_odgm_dead_letters_total", {
  description: "Events moved to the dead letters after their last attempt, by target class and function",
  incremental: true,
})
const inFlight = Metric.gauge("oprc_odgm_trigger_inflight", {
  description: "Outbox events claimed by this node and being delivered",
})
const objectOps = Metric.counter("oprc_odgm_object_operations_total", {
  description: "ObjectService operations, by class, operation and result",
  incremental: true,
})

const invocationsBy = labelled(invocations, ["cls", "fn", "status"])
const durationBy = labelled(duration, ["cls", "fn"])
const queueDepthBy = labelled(queueDepth, ["cls"])
const conflictsBy = labelled(conflicts, ["cls", "fn"])
const deliveriesBy = labelled(deliveries, ["cls", "fn", "result"])
const retriesBy = labelled(retries, ["cls", "fn"])
const deadLettersBy = labelled(deadLetters, ["cls", "fn"])
const objectOpsBy = labelled(objectOps, ["cls", "op", "result"])

// On every request's path: updated in place (updateNow), not as Effects (observability's Metrics.ts).
export const recordInvocation = (cls: string, fn: string, status: string, seconds: number) =>
  Effect.sync(() => {
    updateNow(invocationsBy({ cls, fn, status }), 1)
    updateNow(durationBy({ cls, fn }), seconds)
  })

export const setQueueDepth = (cls: string, depth: number) => Metric.update(queueDepthBy({ cls }), depth)

export const recordConflict = (cls: string, fn: string) => Metric.update(conflictsBy({ cls, fn }), 1)

export const recordDelivery = (cls: string, fn: string, result: "delivered" | "retry" | "dead_letter") =>
  Effect.all([
    Metric.update(deliveriesBy({ cls, fn, result }), 1),
    result === "retry" ? Metric.update(retriesBy({ cls, fn }), 1) : Effect.void,
    result === "dead_letter" ? Metric.update(deadLettersBy({ cls, fn }), 1) : Effect.void,
  ], { discard: true })

export const setInFlight = (n: number) => Metric.update(inFlight, n)

export const recordObjectOp = (cls: string, op: string, result: string) =>
  Effect.sync(() => updateNow(objectOpsBy({ cls, op, result }), 1))
