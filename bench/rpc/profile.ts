// CPU profile of packages/rpc serving the bench echo (bench/rpc/server-oprc.ts) under wrk -c50:
// the share of samples by file and the top functions by self time.
// Usage: npx bun bench/rpc/profile.ts [connect|rest] [seconds]
import { mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { loadAvg } from "../lib/report"
import { freePort, runWrk } from "../lib/wrk"
import { requestBody } from "./handler"

const kind = process.argv[2] === "rest" ? "rest" : "connect"
const seconds = Number(process.argv[3] ?? 4)
const here = new URL(".", import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), "oprc-rpc-prof-"))
const port = await freePort()
const warmMs = 4000
const server = Bun.spawn(
  [process.execPath, "--cpu-prof", "--cpu-prof-dir", dir, `${here}server-oprc.ts`],
  {
    env: { ...process.env, PORT: String(port), BENCH_EXIT_AFTER_MS: String(warmMs + seconds * 1000 + 2000) },
    stdout: "ignore",
    stderr: "inherit",
  },
)
await Bun.sleep(warmMs)
const path = kind === "rest" ? "/api/echo" : "/oprc.function.v1.FunctionService/Invoke"
const body = kind === "rest" ? JSON.stringify({ cls: "bench.Echo", payload: "aGVsbG8gd29ybGQ=" }) : requestBody
const r = runWrk({
  url: `http://127.0.0.1:${port}${path}`,
  connections: 50,
  method: "POST",
  body,
  headers: { "content-type": "application/json" },
  durationSec: seconds,
})
await server.exited
console.log(`${kind} echo: ${Math.round(r.requestsPerSec)} req/s under the profiler, load average ${loadAvg()}`)

interface Node {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
}
const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"))
if (file === undefined) throw new Error(`no profile written in ${dir}`)
const profile = JSON.parse(readFileSync(join(dir, file), "utf8")) as {
  nodes: ReadonlyArray<Node>
  samples: ReadonlyArray<number>
  timeDeltas: ReadonlyArray<number>
}
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const byFile = new Map<string, number>()
const byFunction = new Map<string, number>()
let total = 0
profile.samples.forEach((id, i) => {
  const t = profile.timeDeltas[i] ?? 0
  const frame = byId.get(id)!.callFrame
  const where = (frame.url || "(native)").replace(/^.*node_modules\//, "").replace(
    /^file:\/\/.*?\/(packages|bench)\//,
    "$1/",
  )
  byFile.set(where, (byFile.get(where) ?? 0) + t)
  const fn = `${frame.functionName || "(anonymous)"} ${where}:${frame.lineNumber + 1}`
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + t)
  total += t
})
const top = (m: Map<string, number>, n: number) =>
  [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) =>
    `${((100 * v) / total).toFixed(1).padStart(5)} %  ${k}`
  )
console.log(["by file:", ...top(byFile, 12), "by function (self):", ...top(byFunction, 15)].join("\n"))
console.log(`profile: ${join(dir, file)}`)
