// Runs wrk against a URL and parses its report. wrk and the server share the machine's cores,
// so only ratios between runs of the same benchmark are meaningful (see docs/benchmarks.md).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ensureBinaries } from "@oprc/test-harness"

// The servers and CPU clock the runners use beside wrk (their own module, so a benchmark that
// needs no wrk does not install it).
export { cpuMs, freePort, startBenchServer } from "./servers"

/** wrk from Debian, installed on first use as the test script installs etcd (apt-get, as root). */
export const wrkBin = (await ensureBinaries(["wrk"])).wrk!

export interface WrkResult {
  readonly requestsPerSec: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly non2xx: number
  readonly errors: number
}

export interface WrkOptions {
  readonly url: string
  readonly connections: number
  readonly durationSec: number
  readonly method?: string
  readonly body?: string
  readonly headers?: Record<string, string>
  /** Extra Lua, e.g. a `request` function that varies the path. */
  readonly script?: string
}

const toMs = (v: string): number => {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim())
  if (!m) return Number.NaN
  const n = Number(m[1])
  return m[2] === "us" ? n / 1000 : m[2] === "s" ? n * 1000 : n
}

/** Parses wrk's `--latency` report. */
export const parseWrk = (out: string): WrkResult => {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)
  const p50 = /\s50%\s+(\S+)/.exec(out)
  const p99 = /\s99%\s+(\S+)/.exec(out)
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out)
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  return {
    requestsPerSec: Number(rps?.[1] ?? Number.NaN),
    p50Ms: toMs(p50?.[1] ?? ""),
    p99Ms: toMs(p99?.[1] ?? ""),
    non2xx: Number(non2xx?.[1] ?? 0),
    errors: errors ? errors.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
  }
}

export const runWrk = (o: WrkOptions): WrkResult => {
  const dir = mkdtempSync(join(tmpdir(), "oprc-wrk-"))
  const script = join(dir, "req.lua")
  const headers = Object.entries(o.headers ?? {}).map(([k, v]) =>
    `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`
  )
  writeFileSync(
    script,
    [
      `wrk.method = ${JSON.stringify(o.method ?? "GET")}`,
      ...(o.body ? [`wrk.body = ${JSON.stringify(o.body)}`] : []),
      ...headers,
      o.script ?? "",
    ].join("\n"),
  )
  const r = Bun.spawnSync(
    [wrkBin, "-t1", `-c${o.connections}`, `-d${o.durationSec}s`, "--latency", "-s", script, o.url],
    { stdout: "pipe", stderr: "pipe" },
  )
  rmSync(dir, { recursive: true, force: true })
  const out = r.stdout.toString()
  if (r.exitCode !== 0) throw new Error(`wrk failed: ${r.stderr.toString()}${out}`)
  return parseWrk(out)
}

export const fmt = (r: WrkResult) =>
  `${Math.round(r.requestsPerSec)} req/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms`

/** The mean of two runs of one measure (errors and non-2xx summed): benchmarks alternate sides and average. */
export const meanWrk = (a: WrkResult, b: WrkResult): WrkResult => ({
  requestsPerSec: (a.requestsPerSec + b.requestsPerSec) / 2,
  p50Ms: (a.p50Ms + b.p50Ms) / 2,
  p99Ms: (a.p99Ms + b.p99Ms) / 2,
  non2xx: a.non2xx + b.non2xx,
  errors: a.errors + b.errors,
})

/** The mean of runs that also carry the server's CPU per request (failures summed). */
export const meanWithCpu = <T extends WrkResult & { readonly cpuUsPerRequest: number }>(
  xs: ReadonlyArray<T>,
): WrkResult & { readonly cpuUsPerRequest: number } => {
  const m = (f: (x: T) => number) => xs.reduce((a, x) => a + f(x), 0) / xs.length
  return {
    requestsPerSec: m((x) => x.requestsPerSec),
    p50Ms: m((x) => x.p50Ms),
    p99Ms: m((x) => x.p99Ms),
    cpuUsPerRequest: m((x) => x.cpuUsPerRequest),
    non2xx: xs.reduce((a, x) => a + x.non2xx, 0),
    errors: xs.reduce((a, x) => a + x.errors, 0),
  }
}
