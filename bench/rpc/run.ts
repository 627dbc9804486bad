// bench/rpc: unary Connect JSON over HTTP/1.1 through packages/rpc vs a bare Bun Connect server
// with the same handler, measured alternately in one run. Usage: bun bench/rpc/run.ts [seconds]
import { cpuMs, fmt, freePort, runWrk, startBenchServer, type WrkResult } from "../lib/wrk"
import { requestBody } from "./handler"

const seconds = Number(process.argv[2] ?? 10)
const here = new URL(".", import.meta.url).pathname
type Measured = WrkResult & { readonly cpuUsPerRequest: number }
const measure = async (script: string): Promise<Measured> => {
  const port = await freePort()
  const server = await startBenchServer(`${here}${script}`, port)
  try {
    const opts = {
      url: `http://127.0.0.1:${port}/oprc.function.v1.FunctionService/Invoke`,
      connections: 50,
      method: "POST",
      body: requestBody,
      headers: { "content-type": "application/json" },
    }
    runWrk({ ...opts, durationSec: 3 }) // warm-up (JIT, connection pools)
    const cpuBefore = cpuMs(server.pid)
    const r = runWrk({ ...opts, durationSec: seconds })
    const cpu = cpuMs(server.pid) - cpuBefore
    if (r.non2xx > 0 || r.errors > 0) throw new Error(`${script}: ${r.non2xx} non-2xx, ${r.errors} socket errors`)
    return { ...r, cpuUsPerRequest: (cpu * 1000) / (r.requestsPerSec * seconds) }
  } finally {
    await server.stop()
  }
}

const rounds: Array<{ bare: Measured; oprc: Measured }> = []
for (let i = 0; i < 2; i++) rounds.push({ bare: await measure("server-bare.ts"), oprc: await measure("server-oprc.ts") })
for (const [i, r] of rounds.entries()) {
  console.log(
    `round ${i + 1}: bare ${fmt(r.bare)}, ${r.bare.cpuUsPerRequest.toFixed(0)} us CPU/req | packages/rpc ${fmt(r.oprc)}, ${r.oprc.cpuUsPerRequest.toFixed(0)} us CPU/req | throughput ratio ${(r.oprc.requestsPerSec / r.bare.requestsPerSec).toFixed(2)}`,
  )
}
const sum = (f: (r: { bare: Measured; oprc: Measured }) => number) => rounds.reduce((a, r) => a + f(r), 0)
console.log(`throughput ratio (packages/rpc / bare), over ${rounds.length} rounds: ${(sum((r) => r.oprc.requestsPerSec) / sum((r) => r.bare.requestsPerSec)).toFixed(2)}`)
// Server CPU per request does not depend on what else the machine runs: the steadier figure.
console.log(`CPU-efficiency ratio (bare CPU/req ÷ packages/rpc CPU/req): ${(sum((r) => r.bare.cpuUsPerRequest) / sum((r) => r.oprc.cpuUsPerRequest)).toFixed(2)}`)
