import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { freePort, LOOPBACK } from "./ports.ts"
import {
  diedWith,
  makeTempDir,
  removeTempDir,
  retryOnPortClash,
  type ServerProcess,
  spawnServer,
  waitFor,
  waitForHttp,
} from "./process.ts"
import { binary } from "./system.ts"

export interface Sample {
  metric: Record<string, string>
  value: number
  /** Unix seconds, as Prometheus reports it. */
  timestamp: number
}

export interface TargetStatus {
  instance: string
  health: string
  lastError: string
  lastScrape: string
}

export interface PrometheusOptions {
  /** `host:port` scrape targets (one job, metrics path `metricsPath`). */
  targets: string[]
  scrapeIntervalMs?: number
  evaluationIntervalMs?: number
  metricsPath?: string
  jobName?: string
  readyTimeoutMs?: number
  /** Discover targets from an HTTP service-discovery endpoint (`http_sd_configs`) as well. */
  httpSd?: { url: string; refreshIntervalMs?: number }
}

export interface PrometheusServer {
  url: string
  port: number
  pid: number
  process: ServerProcess
  /** Instant query; vector, scalar and string results become samples. */
  query(promql: string): Promise<Sample[]>
  /** Polls `query` until `predicate` holds (the first sample takes ~6 s to appear). */
  waitForQuery(promql: string, predicate?: (s: Sample[]) => boolean, timeoutMs?: number): Promise<Sample[]>
  /** Active scrape targets with their health, from `/api/v1/targets`. */
  targets(): Promise<TargetStatus[]>
  /** Rewrites the config and reloads it (`POST /-/reload`). */
  setTargets(targets: string[]): Promise<void>
  stop(): Promise<void>
  kill(): Promise<void>
}

const renderConfig = (o: PrometheusOptions, targets: string[]) => {
  const scrape = `${o.scrapeIntervalMs ?? 1000}ms`
  // JSON is valid YAML and needs no escaping rules of its own.
  return JSON.stringify(
    {
      global: {
        scrape_interval: scrape,
        scrape_timeout: scrape,
        evaluation_interval: `${o.evaluationIntervalMs ?? 1000}ms`,
      },
      scrape_configs: [
        {
          job_name: o.jobName ?? "oprc",
          metrics_path: o.metricsPath ?? "/metrics",
          static_configs: [{ targets }],
          ...(o.httpSd
            ? { http_sd_configs: [{ url: o.httpSd.url, refresh_interval: `${o.httpSd.refreshIntervalMs ?? 1000}ms` }] }
            : {}),
        },
      ],
    },
    null,
    2,
  )
}

interface QueryResponse {
  status: string
  error?: string
  data?: { resultType: string; result: unknown }
}

type PromValue = [number, string]

const toSamples = (d: NonNullable<QueryResponse["data"]>): Sample[] => {
  const one = ([ts, v]: PromValue, metric: Record<string, string> = {}) => ({ metric, value: Number(v), timestamp: ts })
  switch (d.resultType) {
    case "vector":
      return (d.result as { metric: Record<string, string>; value: PromValue }[]).map((r) => one(r.value, r.metric))
    case "scalar":
    case "string":
      return [one(d.result as PromValue)]
    default:
      throw new Error(`query returned a ${d.resultType}; use an instant vector expression`)
  }
}

export function startPrometheus(opts: PrometheusOptions): Promise<PrometheusServer> {
  return retryOnPortClash(async () => {
    const prometheus = await binary("prometheus")
    const dir = makeTempDir("prometheus")
    const configFile = join(dir, "prometheus.yml")
    writeFileSync(configFile, renderConfig(opts, opts.targets))
    let sp: ServerProcess | undefined
    try {
      const port = await freePort()
      const url = `http://${LOOPBACK}:${port}`
      sp = spawnServer({
        name: "prometheus",
        logFile: join(dir, "prometheus.log"),
        ports: [port],
        cmd: [
          prometheus,
          `--config.file=${configFile}`,
          `--storage.tsdb.path=${join(dir, "data")}`,
          `--web.listen-address=${LOOPBACK}:${port}`,
          "--web.enable-lifecycle",
          "--log.level=warn",
        ],
      })
      await waitForHttp(`${url}/-/ready`, (s) => s === 200, opts.readyTimeoutMs ?? 15_000, { abortIf: diedWith(sp) })
      const proc = sp

      const query = async (promql: string) => {
        const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: promql })}`, {
          signal: AbortSignal.timeout(5000),
        })
        const body = (await res.json()) as QueryResponse
        if (body.status !== "success" || !body.data) throw new Error(`query ${promql}: ${body.error ?? res.status}`)
        return toSamples(body.data)
      }
      const targets = async (): Promise<TargetStatus[]> => {
        const res = await fetch(`${url}/api/v1/targets?state=active`, { signal: AbortSignal.timeout(5000) })
        const body = (await res.json()) as {
          data?: { activeTargets?: (TargetStatus & { labels: Record<string, string> })[] }
        }
        return (body.data?.activeTargets ?? []).map((t) => ({
          instance: t.labels.instance ?? "",
          health: t.health,
          lastError: t.lastError,
          lastScrape: t.lastScrape,
        }))
      }
      const done = (f: () => Promise<void>) => async () => {
        await f()
        removeTempDir(dir)
      }
      return {
        url,
        port,
        pid: proc.pid,
        process: proc,
        query,
        async waitForQuery(promql, predicate = (s) => s.length > 0, timeoutMs = 20_000) {
          let last: Sample[] = []
          try {
            return await waitFor(`prometheus query ${promql}`, async () => {
              last = await query(promql)
              return predicate(last) ? last : undefined
            }, { timeoutMs, intervalMs: 100 })
          } catch (e) {
            // Why nothing arrived is usually a scrape problem; say which.
            const t = await targets().catch(() => [])
            throw new Error(
              `${(e as Error).message}; last result ${JSON.stringify(last)}; targets ${JSON.stringify(t)}`,
            )
          }
        },
        targets,
        async setTargets(targets) {
          writeFileSync(configFile, renderConfig(opts, targets))
          const res = await fetch(`${url}/-/reload`, { method: "POST", signal: AbortSignal.timeout(10_000) })
          if (!res.ok) throw new Error(`prometheus reload: ${res.status} ${await res.text()}`)
        },
        stop: done(() => proc.stop()),
        kill: done(() => proc.kill9()),
      }
    } catch (e) {
      await sp?.kill9()
      removeTempDir(dir)
      throw e
    }
  })
}
