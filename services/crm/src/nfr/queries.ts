import { Effect } from "effect"
import type { Prometheus, PrometheusError, Sample } from "./Prometheus"
import { sdLabels } from "./discovery"

/**
 * The PromQL behind every NFR number. A fixed set of queries per analysis, grouped by the
 * service-discovery labels, so the cost does not grow with the number of functions.
 *
 * Sources (see docs/crm.md, NFR):
 * - each function replica's own RPC metrics from @oprc/rpc (`oprc_rpc_requests_total`,
 *   `oprc_rpc_request_duration_seconds`, service `oprc.function.v1.FunctionService`) and its
 *   process CPU and memory, labelled by discovery with `oprc_unit` and `oprc_function`;
 * - ODGM's invocation metrics by class (`cls`) and binding (`fn`): what callers see, including the
 *   wait for the object's turn.
 */

const FUNCTION_SERVICE = "oprc.function.v1.FunctionService"
const by = `${sdLabels.unit}, ${sdLabels.function}`

// ODGM statuses that are the caller's doing (bad payload, unknown object, the app's own error
// answer, a lost race) are not the platform failing its availability target.
const callerStatuses = [
  "ok",
  "invalid",
  "app_error",
  "validation_error",
  "not_found",
  "conflict",
  "failed_precondition",
  "unauthenticated",
  "permission_denied",
  "payload_too_large",
]

const seconds = (ms: number) => `${Math.max(1, Math.round(ms / 1000))}s`

export const promql = (rateWindowMs: number) => {
  const w = seconds(rateWindowMs)
  const fn = `service="${FUNCTION_SERVICE}"`
  return {
    rps: `sum by (${by}) (rate(oprc_rpc_requests_total{${fn}}[${w}]))`,
    errors: `sum by (${by}) (rate(oprc_rpc_requests_total{${fn},code!="ok"}[${w}]))`,
    p99: `histogram_quantile(0.99, sum by (${by}, le) (rate(oprc_rpc_request_duration_seconds_bucket{${fn}}[${w}])))`,
    cpu: `sum by (${by}) (rate(process_cpu_seconds_total{${sdLabels.component}="function"}[${w}]))`,
    memory: `sum by (${by}) (process_resident_memory_bytes{${sdLabels.component}="function"})`,
    odgmRate: `sum by (cls, fn, status) (rate(oprc_odgm_invocations_total[${w}]))`,
    odgmP99:
      `histogram_quantile(0.99, sum by (cls, fn, le) (rate(oprc_odgm_invocation_duration_seconds_bucket[${w}])))`,
  } as const
}
type Queries = ReturnType<typeof promql>

/** Which function of which unit, and the ODGM class and bindings it serves. */
export interface WorkloadKey {
  readonly unitId: string
  readonly function: string
  /** ODGM collection (class) name, `<package>.<Class>`. */
  readonly cls: string
  readonly bindings: ReadonlyArray<string>
}

/** What Prometheus says about one function right now; undefined = no data (no traffic, not scraped yet). */
export interface Observation {
  /** Requests/s the function's replicas served. */
  readonly rps: number | undefined
  /** Failed share of requests in [0, 1] (ODGM's view when it has one). */
  readonly errorRate: number | undefined
  /** p99 latency in ms: ODGM's (what callers wait) when it has invocations, else the replicas'. */
  readonly p99Ms: number | undefined
  readonly cpuCores: number | undefined
  readonly memoryBytes: number | undefined
}

type Results = { readonly [K in keyof Queries]: ReadonlyArray<Sample> }

/** Runs every query once; one failure fails the analysis (partial numbers would mislead). */
export const runQueries = (
  prometheus: Prometheus["Service"],
  rateWindowMs: number,
): Effect.Effect<Results, PrometheusError> => {
  const q = promql(rateWindowMs)
  return Effect.all(
    {
      rps: prometheus.query(q.rps),
      errors: prometheus.query(q.errors),
      p99: prometheus.query(q.p99),
      cpu: prometheus.query(q.cpu),
      memory: prometheus.query(q.memory),
      odgmRate: prometheus.query(q.odgmRate),
      odgmP99: prometheus.query(q.odgmP99),
    },
    { concurrency: 4 },
  )
}

const ofWorkload = (samples: ReadonlyArray<Sample>, key: WorkloadKey) =>
  samples.find((s) => s.labels[sdLabels.unit] === key.unitId && s.labels[sdLabels.function] === key.function)?.value

/** The numbers of one function, picked out of the grouped results. */
export const observationOf = (results: Results, key: WorkloadKey): Observation => {
  const bindings = new Set(key.bindings)
  const mine = (s: Sample) => s.labels.cls === key.cls && bindings.has(s.labels.fn ?? "")
  const odgmRates = results.odgmRate.filter(mine)
  const odgmTotal = odgmRates.reduce((a, s) => a + s.value, 0)
  const odgmFailed = odgmRates.filter((s) => !callerStatuses.includes(s.labels.status ?? "")).reduce(
    (a, s) => a + s.value,
    0,
  )
  // The slowest binding is the function's p99: every binding has to meet the target.
  const odgmP99s = results.odgmP99.filter(mine).map((s) => s.value)
  const odgmP99 = odgmP99s.length > 0 ? Math.max(...odgmP99s) : undefined

  const rps = ofWorkload(results.rps, key)
  const errors = ofWorkload(results.errors, key)
  const replicaP99 = ofWorkload(results.p99, key)
  const p99Seconds = odgmTotal > 0 && odgmP99 !== undefined ? odgmP99 : replicaP99
  return {
    rps,
    errorRate: odgmTotal > 0 ? odgmFailed / odgmTotal : rps !== undefined && rps > 0 ? (errors ?? 0) / rps : undefined,
    p99Ms: p99Seconds === undefined ? undefined : p99Seconds * 1000,
    cpuCores: ofWorkload(results.cpu, key),
    memoryBytes: ofWorkload(results.memory, key),
  }
}
