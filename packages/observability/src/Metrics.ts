import { Context, Effect, Metric } from "effect"
import { PrometheusMetrics } from "effect/observability"

/** Latency buckets in seconds: sub-millisecond calls up to 30 s function timeouts. */
export const latencyBuckets: ReadonlyArray<number> = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
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
 * A metric's labelled instances, each built once per label set and reused: building one per
 * update (attribute hashing, registry lookups) costs more than the update itself. They are found
 * through one map per label, by value: no key string is made per update.
 */
export const labelled = <I, S, const K extends string>(metric: Metric.Metric<I, S>, keys: ReadonlyArray<K>) => {
  const root = new Map<string, unknown>()
  const last = keys.length - 1
  return (labels: Readonly<Record<K, string>>): Metric.Metric<I, S> => {
    let level = root
    for (let i = 0; i < last; i++) {
      const value = labels[keys[i]!]
      let next = level.get(value) as Map<string, unknown> | undefined
      if (next === undefined) level.set(value, next = new Map())
      level = next
    }
    const value = labels[keys[last]!]
    let m = level.get(value) as Metric.Metric<I, S> | undefined
    if (m === undefined) level.set(value, m = Metric.withAttributes(metric, labels))
    return m
  }
}
const rpcCount = labelled(rpcRequests, ["service", "method", "code"])
const rpcTime = labelled(rpcLatency, ["service", "method"])
const httpCount = labelled(httpRequests, ["route", "method", "status"])
const httpTime = labelled(httpLatency, ["route", "method"])

/**
 * Metric updates outside a fiber, on the process's registry (the one `prometheusText` reads):
 * about 0.1 µs, against 2.5 µs for the same two updates as an Effect on every request's path.
 */
const noContext = Context.empty()
export const updateNow = <I, S>(metric: Metric.Metric<I, S>, input: I): void => metric.updateUnsafe(input, noContext)

/** Counts one served RPC call now. `code` is the Connect code name ("ok", "not_found", ...). */
export const countRpc = (call: { service: string; method: string; code: string; seconds: number }): void => {
  updateNow(rpcCount({ service: call.service, method: call.method, code: call.code }), 1)
  updateNow(rpcTime({ service: call.service, method: call.method }), call.seconds)
}

/** Counts one served REST request now; `route` is the pattern (e.g. /api/v1/packages/:name), never the raw path. */
export const countHttp = (call: { route: string; method: string; status: number; seconds: number }): void => {
  updateNow(httpCount({ route: call.route, method: call.method, status: String(call.status) }), 1)
  updateNow(httpTime({ route: call.route, method: call.method }), call.seconds)
}

/**
 * The process's own CPU time and resident memory in the names Prometheus's client libraries use,
 * so the CRM's NFR analyzer can query any oprc process (and any other language's function) the
 * same way. Read at scrape time: a counter fed by a timer would lag and cost a wake-up when idle.
 */
const processMetrics = (): string => {
  const cpu = process.cpuUsage()
  const cpuSeconds = (cpu.user + cpu.system) / 1e6
  return [
    "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.",
    "# TYPE process_cpu_seconds_total counter",
    `process_cpu_seconds_total ${cpuSeconds}`,
    "# HELP process_resident_memory_bytes Resident memory size in bytes.",
    "# TYPE process_resident_memory_bytes gauge",
    `process_resident_memory_bytes ${process.memoryUsage.rss()}`,
    "",
  ].join("\n")
}

/** The Prometheus text exposition of every metric in the process, plus its CPU and memory. */
export const prometheusText: Effect.Effect<string> = Effect.map(
  PrometheusMetrics.format(),
  (text) => (text === "" || text.endsWith("\n") ? text : `${text}\n`) + processMetrics(),
)
