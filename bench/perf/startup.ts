// bench/perf/startup.ts: start-up of every compiled binary (dist/, from `npm run build`) to its
// first healthy answer, median of N starts: the server binaries to /healthz 200 (and /readyz 200),
// polled every 2 ms; the CLI to the end of `oprc --version`. Memory storage, free ports, the
// default log level. Each server's "started in" log line (packages/runtime) splits its start-up:
// modules evaluated (counted from the process's start as Bun sees it), config loaded, services
// built and the port listening; the rest up to the first 200 is exec, the first request and the
// poll interval. CPU is the process's CPU time (all threads) when the first 200 arrived.
// Usage: bun bench/perf/startup.ts [starts=10] [--dist DIR]   (prints RATIO lines: median vs the 200 ms aim;
// --dist compares another build, e.g. `bun scripts/build.ts --outdir DIR`)
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { benchDir, loadAvg, ratioLine } from "../lib/report"
import { freePort } from "../lib/servers"

const argv = process.argv.slice(2)
const distIndex = argv.indexOf("--dist")
const dist = distIndex >= 0
  ? `${argv.splice(distIndex, 2)[1]!.replace(/\/$/, "")}/`
  : new URL("../../dist/", import.meta.url).pathname
const starts = Number(argv.find((a) => /^\d+$/.test(a)) ?? 10)
const cwd = benchDir("oprc-startup-")
const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const until = async (url: string, deadline: number) => {
  for (;;) {
    const ok = await fetch(url, { signal: AbortSignal.timeout(200) }).then((r) => r.status === 200, () => false)
    if (ok) return performance.now()
    if (performance.now() > deadline) throw new Error(`${url}: no 200 in time`)
    await Bun.sleep(2)
  }
}

// CPU time of every thread of the process so far (ns on CPU, /proc/PID/task/*/schedstat): far
// less distorted by other load on the machine than the wall time.
const cpuMs = (pid: number): number => {
  let ns = 0
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0])
  }
  return ns / 1e6
}

const STARTED = /started in (\d+) ms: modules (\d+) ms, config (\d+) ms, services and port (\d+) ms/
const PHASES = ["modules", "config", "services and port"] as const

const server = async (binary: string, args: ReadonlyArray<string>, waitReady: boolean) => {
  const healthy: Array<number> = []
  const ready: Array<number> = []
  const cpu: Array<number> = []
  const phases: Array<ReadonlyArray<number>> = []
  for (let i = 0; i < starts; i++) {
    const port = await freePort()
    const t0 = performance.now()
    const proc = Bun.spawn([`${dist}${binary}`, "--host", "127.0.0.1", "--port", String(port), ...args], {
      cwd,
      stdout: "pipe",
      stderr: "ignore",
    })
    try {
      healthy.push((await until(`http://127.0.0.1:${port}/healthz`, t0 + 20_000)) - t0)
      cpu.push(cpuMs(proc.pid))
      if (waitReady) ready.push((await until(`http://127.0.0.1:${port}/readyz`, t0 + 20_000)) - t0)
    } finally {
      proc.kill("SIGTERM")
      await proc.exited
    }
    const started = STARTED.exec(await new Response(proc.stdout).text())
    if (started !== null) phases.push(started.slice(2).map(Number))
  }
  const h = median(healthy)
  // Medians per phase; "rest" is what is left of the median time to the first 200.
  const split = phases.length === 0 ? "no \"started in\" line" : `${
    [
      ...PHASES.map((name, p) => `${name} ${median(phases.map((x) => x[p]!))}`),
      `rest ${Math.max(0, Math.round(h - PHASES.reduce((n, _, p) => n + median(phases.map((x) => x[p]!)), 0)))}`,
    ].join(", ")
  } ms`
  return {
    healthy: h,
    cpu: median(cpu),
    split,
    ready: waitReady ? `${median(ready).toFixed(0)} ms` : "not waited for: no ODGM behind it",
  }
}

if (!existsSync(`${dist}oprc-pm`)) {
  console.log("dist/ has no binaries: run `npm run build` first (startup skipped)")
  process.exit(0)
}
console.log(`startup: ${dist}, load average ${loadAvg()} at start`)
const odgmPort = await freePort()
for (
  const [binary, args, ready] of [
    ["oprc-pm", ["--storage", "memory"], true],
    ["oprc-odgm", ["--storage", "memory"], true],
    // The CRM's ODGM URL is only configuration at start-up (nothing listens there).
    ["oprc-crm", ["--storage", "memory", "--odgm-url", `http://127.0.0.1:${odgmPort}`], false],
  ] as const
) {
  const r = await server(binary, args, ready)
  ratioLine(
    `startup ${binary} to /healthz (median of ${starts})`,
    `${r.healthy.toFixed(0)} ms (${r.split}; CPU ${r.cpu.toFixed(0)} ms; /readyz ${r.ready})`,
    "aim 200 ms",
    r.healthy / 200,
    "< 1 (under 200 ms)",
  )
}
const cli: Array<number> = []
for (let i = 0; i < starts; i++) {
  const t0 = performance.now()
  const r = Bun.spawnSync([`${dist}oprc`, "--version"], { cwd, stdout: "pipe", stderr: "pipe" })
  if (r.exitCode !== 0) throw new Error(`oprc --version: ${r.stderr.toString()}`)
  cli.push(performance.now() - t0)
}
ratioLine(
  `startup oprc (CLI) --version to exit (median of ${starts})`,
  `${median(cli).toFixed(0)} ms`,
  "aim 200 ms",
  median(cli) / 200,
  "< 1 (under 200 ms)",
)
console.log(`startup: load average ${loadAvg()} at end`)
