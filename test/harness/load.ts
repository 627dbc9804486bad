import { readFileSync } from "node:fs"
import { availableParallelism, loadavg } from "node:os"

/** Resident memory of a process in MiB, from /proc. */
export const rssMb = (pid: number): number =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024

const percentile = (sorted: ReadonlyArray<number>, q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!

/** /healthz latencies (sorted) over `ms`, one request every 10 ms; any non-200 answer fails. */
const pollHealth = async (url: string, ms: number, sample: () => void) => {
  const out: Array<number> = []
  const started = performance.now()
  while (performance.now() - started < ms) {
    const t = performance.now()
    const res = await fetch(`${url}/healthz`)
    await res.text()
    if (res.status !== 200) throw new Error(`/healthz answered ${res.status}`)
    out.push(performance.now() - t)
    sample()
    await Bun.sleep(10)
  }
  return out.sort((a, b) => a - b)
}

export interface LoadRequest {
  readonly name: string
  /** Sends the request once and resolves with its HTTP status (the body read to the end). */
  readonly send: () => Promise<number>
}

export interface HealthUnderLoad {
  readonly healthChecks: number
  readonly idleP99Ms: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  /** max(1, load average / cores) over the run: how much longer CPU work takes on this machine now. */
  readonly slowdown: number
  readonly rssBaselineMb: number
  readonly rssPeakMb: number
  /** Per request: HTTP status -> count. */
  readonly requests: Record<string, Record<number, number>>
}

/**
 * Issue 7's event-loop measure: each request is sent again and again for `warmUpMs` (the first
 * few dozen runs of a path are stretches of JIT compilation, 150-320 ms each on the development
 * machine; a server in service is warm), then the server's idle /healthz p99 and RSS are taken,
 * then every request loops on its own connection for `runMs` while /healthz is polled and RSS
 * sampled.
 */
export const healthUnderLoad = async (options: {
  readonly url: string
  readonly pid: number
  readonly requests: ReadonlyArray<LoadRequest>
  readonly runMs: number
  readonly warmUpMs?: number
}): Promise<HealthUnderLoad> => {
  const warmUntil = performance.now() + (options.warmUpMs ?? 1500)
  do {
    for (const r of options.requests) await r.send()
  } while (performance.now() < warmUntil)
  const baseline = rssMb(options.pid)
  const idle = percentile(await pollHealth(options.url, 1500, () => {}), 0.99)
  let maxLoad = loadavg()[0]!
  let stop = false
  const statuses = new Map<string, Map<number, number>>()
  const workers = options.requests.map(async (r) => {
    const seen = new Map<number, number>()
    statuses.set(r.name, seen)
    while (!stop) {
      const status = await r.send()
      seen.set(status, (seen.get(status) ?? 0) + 1)
    }
  })
  let peak = baseline
  const latencies = await pollHealth(options.url, options.runMs, () => {
    maxLoad = Math.max(maxLoad, loadavg()[0]!)
    peak = Math.max(peak, rssMb(options.pid))
  }).finally(() => (stop = true))
  await Promise.all(workers)
  const slowdown = Math.max(1, Math.max(maxLoad, loadavg()[0]!) / availableParallelism())
  return {
    healthChecks: latencies.length,
    idleP99Ms: Number(idle.toFixed(1)),
    p50Ms: Number(percentile(latencies, 0.5).toFixed(1)),
    p99Ms: Number(percentile(latencies, 0.99).toFixed(1)),
    maxMs: Number(percentile(latencies, 1).toFixed(1)),
    slowdown: Number(slowdown.toFixed(2)),
    rssBaselineMb: Math.round(baseline),
    rssPeakMb: Math.round(peak),
    requests: Object.fromEntries([...statuses].map(([k, v]) => [k, Object.fromEntries(v)])),
  }
}
