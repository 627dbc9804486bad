import { Effect, Metric } from "effect"
import { PrometheusMetrics } from "effect/observability"

/** Latency buckets in seconds: sub-millisecond calls up to 30 s function timeouts. */
export const latencyBuckets: ReadonlyArray<number> = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
]

const rpcRequests = Metric.counter("oprc_rpc_requests_total", {
  description: "RPC calls served, by service, method and Connect code",
  incremental: true,
})
const rpcLatency = Metric.histogram("oprc_rpc_request_duration_seconds", {
  description: "RPC call latency served, by service and method",
  boundaries: latencyBuckets,
})
const httpRequests = Metric.counter("oprc_http_requests_total", {
  description: "REST requests served, by route, method and status",
  incremental: true,
})
const httpLatency = Metric.histogram("oprc_http_request_duration_seconds", {
  description: "REST request latency, by route and method",
  boundaries: latencyBuckets,
})

/** Records one served RPC call. `code` is the Connect code name ("ok", "not_found", ...). */
export const recordRpc = (call: { service: string; method: string; code: string; seconds: number }) =>
  Effect.all([
    Metric.update(Metric.withAttributes(rpcRequests, { service: call.service, method: call.method, code: call.code }), 1),
    Metric.update(Metric.withAttributes(rpcLatency, { service: call.service, method: call.method }), call.seconds),
  ], { discard: true })

/** Records one served REST request; `route` is the pattern (e.g. /api/v1/packages/:name), never the raw path. */
export const recordHttp = (call: { route: string; method: string; status: number; seconds: number }) =>
  Effect.all([
    Metric.update(Metric.withAttributes(httpRequests, { route: call.route, method: call.method, status: String(call.status) }), 1),
    Metric.update(Metric.withAttributes(httpLatency, { route: call.route, method: call.method }), call.seconds),
  ], { discard: true })

/** The Prometheus text exposition of every metric in the process. */
export const prometheusText: Effect.Effect<string> = PrometheusMetrics.format()
