// gRPC (h2c) load for the rpc benchmarks: `concurrency` loops of unary Invoke calls over one
// connect-node gRPC transport for `seconds`. wrk speaks only HTTP/1.1, so this is the h2 client.
// Usage: bun bench/rpc/grpc-load.ts <baseUrl> <seconds> <concurrency>  -> JSON on stdout
import { createClient } from "@connectrpc/connect"
import { createGrpcTransport } from "@connectrpc/connect-node"
import { functionv1 } from "@oprc/proto"

const [baseUrl = "", seconds = "3", concurrency = "50"] = process.argv.slice(2)
const client = createClient(functionv1.FunctionService, createGrpcTransport({ baseUrl }))
const request = {
  invocationId: "bench",
  cls: "bench.Echo",
  function: "echo",
  payload: new TextEncoder().encode("hello world"),
}
const latencies: Array<number> = []
const loop = async (deadline: number) => {
  while (Date.now() < deadline) {
    const t = performance.now()
    const r = await client.invoke(request)
    if (r.headers["x-cls"] !== "bench.Echo") throw new Error("wrong answer")
    latencies.push(performance.now() - t)
  }
}
const t0 = performance.now()
await Promise.all(Array.from({ length: Number(concurrency) }, () => loop(Date.now() + Number(seconds) * 1000)))
const elapsed = (performance.now() - t0) / 1000
latencies.sort((a, b) => a - b)
const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN
console.log(
  JSON.stringify({ requestsPerSec: latencies.length / elapsed, p50Ms: at(0.5), p99Ms: at(0.99), non2xx: 0, errors: 0 }),
)
