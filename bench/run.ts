// Runs every benchmark in bench/ in turn (each measures its own baseline in the same run) and ends
// with a summary: every ratio of issue 13 with its baseline, one line each, and the load average
// at start and end. Quick by default (2 s per measure, 1 round); --full: 10 s, 2 rounds, more units.
// Usage: bun bench/run.ts [seconds] [--full] [--profile] [--only=rpc,pm,...]
//   --profile also records the CPU profiles (bench/perf/profile.ts); the CRM and start-up parts
//   need a process-capable machine and `npm run build` (dist/) respectively.
import { loadAvg, RATIO_PREFIX, secondsArg } from "./lib/report"

const here = new URL(".", import.meta.url).pathname
const full = process.argv.includes("--full")
const seconds = String(secondsArg(process.argv))
const only = process.argv.find((a) => a.startsWith("--only="))?.slice(7).split(",")
const flags = full ? ["--full"] : []
const crmUnits = full ? 200 : 50

interface Step {
  readonly name: string
  readonly args: ReadonlyArray<string>
  readonly timeoutSec: number
}
const steps: ReadonlyArray<Step> = [
  { name: "rpc", args: ["rpc/run.ts", seconds, ...flags], timeoutSec: 600 },
  { name: "pm", args: ["pm/run.ts", seconds, ...flags], timeoutSec: 600 },
  { name: "pm-growth", args: ["pm/growth.ts", seconds, "10000"], timeoutSec: 900 },
  { name: "odgm", args: ["odgm/run.ts", seconds, ...flags], timeoutSec: 600 },
  { name: "odgm-growth", args: ["odgm/scale.ts", seconds, "1000000"], timeoutSec: 900 },
  { name: "crm-10", args: ["crm/run.ts", "10", "2"], timeoutSec: 300 },
  { name: `crm-${crmUnits}`, args: ["crm/run.ts", String(crmUnits), "2"], timeoutSec: 600 },
  { name: "perf-jit", args: ["perf/jit.ts", seconds], timeoutSec: 300 },
  { name: "startup", args: ["perf/startup.ts", "10"], timeoutSec: 300 },
  ...(process.argv.includes("--profile")
    ? [{ name: "profile", args: ["perf/profile.ts", seconds], timeoutSec: 600 }]
    : []),
]

const loadStart = loadAvg()
const ratios: Array<string> = []
const failed: Array<string> = []
const crm: Record<string, string> = {}
for (const step of steps) {
  if (only && !only.some((o) => step.name.startsWith(o))) continue
  console.log(`\n== bench/${step.args[0]} ${step.args.slice(1).join(" ")}   (load ${loadAvg()})`)
  const proc = Bun.spawn([process.execPath, `${here}${step.args[0]}`, ...step.args.slice(1)], {
    stdout: "pipe",
    stderr: "inherit",
    timeout: step.timeoutSec * 1000,
    killSignal: "SIGTERM",
  })
  let rest = ""
  for await (const chunk of proc.stdout.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + chunk).split("\n")
    rest = lines.pop()!
    for (const line of lines) {
      console.log(line)
      if (line.startsWith(RATIO_PREFIX)) ratios.push(line.slice(RATIO_PREFIX.length))
      const m = /^apply -> Available excluding function start: p50 (\d+) ms/.exec(line)
      if (m && step.name.startsWith("crm")) crm[step.name] = m[1]!
    }
  }
  if (rest) console.log(rest)
  if ((await proc.exited) !== 0) failed.push(`${step.name} (exit ${proc.exitCode ?? proc.signalCode})`)
}
if (crm["crm-10"] && crm[`crm-${crmUnits}`]) {
  const a = Number(crm["crm-10"]), b = Number(crm[`crm-${crmUnits}`])
  ratios.push(
    `crm growth apply->Available p50 (minus the function's own start), ${crmUnits} vs 10 units, process driver | ${crmUnits}: ${b} ms | 10: ${a} ms | ${
      (b / Math.max(a, 1)).toFixed(2)
    } | aim p50 < 200 ms`,
  )
}

const summary = [
  `== summary (${full ? "--full" : "quick"}, ${seconds} s per measure, ${
    new Date().toISOString()
  }): measure | now | baseline | ratio | aim`,
  ...ratios,
  `load average at start ${loadStart}, at end ${loadAvg()} (1/5/15 min; the machine is shared: compare ratios, not absolute numbers)`,
]
console.log(`\n${summary.join("\n")}`)
// The last summary, for docs/benchmarks.md (a partial run with --only does not overwrite it).
if (!only) await Bun.write(`${here}SUMMARY.txt`, `${summary.join("\n")}\n`)
if (failed.length > 0) {
  console.log(`failed: ${failed.join(", ")}`)
  process.exit(1)
}
