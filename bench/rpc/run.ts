// bench/rpc: one unary echo through every server shape, measured alternately in one run:
//  - Connect JSON over HTTP/1.1 (wrk): native Bun.serve doing the same work by hand (the physical
//    limit), bare connect-node on node:http, and packages/rpc (the Bun.listen front -> Bun.serve
//    on a unix socket, its direct Connect path, CallRunner, spans, metrics, edge limits);
//  - a REST echo (wrk): native vs packages/rpc;
//  - gRPC over h2c (bench/rpc/grpc-load.ts): bare node:http2 connect-node vs packages/rpc (the same
//    front -> node:http2);
//  - first, every protocol on the one port (bench/rpc/protocols.ts) for packages/rpc.
// Usage: bun bench/rpc/run.ts [seconds] [--full]
import { ratioLine, secondsArg } from "../lib/report"
import { cpuMs, fmt, freePort, runWrk, startBenchServer, type WrkResult } from "../lib/wrk"
import { requestBody } from "./handler"

const seconds = secondsArg(process.argv)
const rounds = process.argv.includes("--full") ? 2 : 1
const warmSec = Math.min(3, Math.max(1, Math.round(seconds / 2)))
const here = new URL(".", import.meta.url).pathname
type Measured = WrkResult & { readonly cpuUsPerRequest: number }
type Kind = "connect" | "rest" | "grpc"
const servers = {
  native: { script: "server-native.ts", env: {} },
  bare: { script: "server-bare.ts", env: {} },
  bareH2: { script: "server-bare-h2.ts", env: {} },
  oprc: { script: "server-oprc.ts", env: {} },
} as const
type Name = keyof typeof servers

const load = (kind: Kind, port: number, durationSec: number): WrkResult => {
  if (kind === "grpc") {
    const r = Bun.spawnSync([
      process.execPath,
      `${here}grpc-load.ts`,
      `http://127.0.0.1:${port}`,
      String(durationSec),
      "50",
    ], { stdout: "pipe", stderr: "pipe" })
    if (r.exitCode !== 0) throw new Error(`grpc-load: ${r.stderr.toString()}`)
    return JSON.parse(r.stdout.toString()) as WrkResult
  }
  const path = kind === "rest" ? "/api/echo" : "/oprc.function.v1.FunctionService/Invoke"
  const body = kind === "rest" ? JSON.stringify({ cls: "bench.Echo", payload: "aGVsbG8gd29ybGQ=" }) : requestBody
  return runWrk({
    url: `http://127.0.0.1:${port}${path}`,
    connections: 50,
    method: "POST",
    body,
    headers: { "content-type": "application/json" },
    durationSec,
  })
}

const measure = async (name: Name, kind: Kind): Promise<Measured> => {
  const port = await freePort()
  const server = await startBenchServer(
    `${here}${servers[name].script}`,
    port,
    servers[name].env,
    name === "bareH2" ? "tcp" : "http",
  )
  try {
    load(kind, port, warmSec) // warm-up (JIT, connection pools)
    const cpuBefore = cpuMs(server.pid)
    const r = load(kind, port, seconds)
    const cpu = cpuMs(server.pid) - cpuBefore
    if (r.non2xx > 0 || r.errors > 0) throw new Error(`${name} ${kind}: ${r.non2xx} non-2xx, ${r.errors} socket errors`)
    return { ...r, cpuUsPerRequest: (cpu * 1000) / (r.requestsPerSec * seconds) }
  } finally {
    await server.stop()
  }
}

const plan: Record<Kind, ReadonlyArray<Name>> = {
  connect: ["native", "bare", "oprc"],
  rest: ["native", "oprc"],
  grpc: ["bareH2", "oprc"],
}
// Every protocol must still work on the one port.
for (const name of ["oprc"] as const) {
  const port = await freePort()
  const server = await startBenchServer(`${here}${servers[name].script}`, port, servers[name].env)
  try {
    const r = Bun.spawnSync([process.execPath, `${here}protocols.ts`, `http://127.0.0.1:${port}`], {
      stdout: "pipe",
      stderr: "pipe",
    })
    const lines = r.stdout.toString().trim().split("\n")
    const ok = lines.filter((l) => l.endsWith(": ok")).length
    ratioLine(
      "rpc protocols on the one port, packages/rpc",
      lines.join("; "),
      `${lines.length} protocols`,
      `${ok}/${lines.length} ok`,
      "all ok",
    )
    if (r.exitCode !== 0) process.exitCode = 1
  } finally {
    await server.stop()
  }
}

const results = new Map<string, Array<Measured>>()
for (let i = 0; i < rounds; i++) {
  for (const [kind, names] of Object.entries(plan) as Array<[Kind, ReadonlyArray<Name>]>) {
    for (const name of names) {
      const m = await measure(name, kind)
      results.set(`${kind}/${name}`, [...(results.get(`${kind}/${name}`) ?? []), m])
      console.log(
        `round ${i + 1} ${kind.padEnd(7)} ${name.padEnd(8)} ${fmt(m)}, ${m.cpuUsPerRequest.toFixed(0)} µs CPU/req`,
      )
    }
  }
}
const mean = (key: string, f: (m: Measured) => number) => {
  const xs = results.get(key)!
  return xs.reduce((a, m) => a + f(m), 0) / xs.length
}
const rps = (key: string) => mean(key, (m) => m.requestsPerSec)
const cpu = (key: string) => mean(key, (m) => m.cpuUsPerRequest)
const show = (key: string) =>
  `${Math.round(rps(key))} req/s, p99 ${mean(key, (m) => m.p99Ms).toFixed(2)} ms, ${cpu(key).toFixed(0)} µs CPU/req`
const line = (measure: string, now: string, base: string, aim: string) =>
  ratioLine(
    measure,
    `${now}: ${show(now)}`,
    `${base}: ${show(base)}`,
    `${(rps(now) / rps(base)).toFixed(2)} (CPU-eff ${(cpu(base) / cpu(now)).toFixed(2)})`,
    aim,
  )

line("rpc Connect echo, packages/rpc vs bare Connect on node:http", "connect/oprc", "connect/bare", "> 1")
line("rpc Connect echo, packages/rpc vs native Bun.serve", "connect/oprc", "connect/native", ">= 0.5")
line("rpc REST echo, packages/rpc vs native Bun.serve", "rest/oprc", "rest/native", ">= 0.5")
line("rpc gRPC echo, packages/rpc vs bare node:http2", "grpc/oprc", "grpc/bareH2", ">= 0.9")
