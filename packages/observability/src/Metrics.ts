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

/**
 * Labelled metric instances are built once per label set and reused: building them per call
 * (attribute hashing, registry lookups) cost more than the rest of a small RPC.
 */
const memo = <M>(make: (key: string) => M) => {
  const cache = new Map<string, M>()
  return (key: string): M => {
    let m = cache.get(key)
    if (m === undefined) cache.set(key, (m = make(key)))
    return m
  }
}
const rpcCount = memo((k) => {
  const [service, method, code] = k.split("\u0000") as [string, string, string]
  return Metric.withAttributes(rpcRequests, { service, method, code })
})
const rpcTime = memo((k) => {
  const [service, method] = k.split("\u0000") as [string, string]
  return Metric.withAttributes(rpcLatency, { service, method })
})
const httpCount = memo((k) => {
  const [route, method, status] = k.split("\u0000") as [string, string, string]
  return Metric.withAttributes(httpRequests, { route, method, status })
})
const httpTime = memo((k) => {
  const [route, method] = k.split("\u0000") as [string, string]
  return Metric.withAttributes(httpLatency, { route, method })
})

/** Records one served RPC call. `code` is the Connect code name ("ok", "not_found", ...). */
export const recordRpc = (call: { service: string; method: string; code: string; seconds: number }) =>
  Effect.andThen(
    Metric.update(rpcCount(`${call.service}\u0000${call.method}\u0000${call.code}`), 1),
    Metric.update(rpcTime(`${call.service}\u0000${call.method}`), call.seconds),
  )

/** Records one served REST request; `route` is the pattern (e.g. /api/v1/packages/:name), never the raw path. */
export const recordHttp = (call: { route: string; method: string; status: number; seconds: number }) =>
  Effect.andThen(
    Metric.update(httpCount(`${call.route}\u0000${call.method}\u0000${call.status}`), 1),
    Metric.update(httpTime(`${call.route}\u0000${call.method}`), call.seconds),
  )

/** The Prometheus text exposition of every metric in the process. */
export const prometheusText: Effect.Effect<string> = PrometheusMetrics.format()
