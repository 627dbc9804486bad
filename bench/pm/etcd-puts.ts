// Raw etcd3 puts at a given concurrency: the ceiling for the PM's CreatePackage on the same etcd.
// Usage: bun etcd-puts.ts <endpoints> <connections> <seconds> <valueBytes>  -> JSON on stdout
import { Etcd3 } from "etcd3"

const [endpoints = "", connections = "50", seconds = "10", valueBytes = "1000"] = process.argv.slice(2)
const client = new Etcd3({ hosts: endpoints.split(",") })
const value = "x".repeat(Number(valueBytes))
const prefix = `/bench/raw/${Math.random().toString(36).slice(2, 8)}/`
const latencies: Array<number> = []
let n = 0
const run = async (deadline: number, record: boolean) => {
  while (Date.now() < deadline) {
    const started = performance.now()
    await client.put(`${prefix}${n++}`).value(value)
    if (record) latencies.push(performance.now() - started)
  }
}
const workers = (ms: number, record: boolean) =>
  Promise.all(Array.from({ length: Number(connections) }, () => run(Date.now() + ms, record)))
await workers(2000, false) // warm-up
const t0 = performance.now()
const cpu0 = process.cpuUsage()
await workers(Number(seconds) * 1000, true)
const cpu = process.cpuUsage(cpu0)
const elapsed = (performance.now() - t0) / 1000
latencies.sort((a, b) => a - b)
const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN
console.log(JSON.stringify({
  requestsPerSec: latencies.length / elapsed,
  p50Ms: at(0.5),
  p99Ms: at(0.99),
  // The client's own CPU per put (grpc-js, protobuf): what the PM pays for the same put besides its own work.
  cpuUsPerRequest: (cpu.user + cpu.system) / latencies.length,
}))
await client.delete().prefix("/bench/raw/")
client.close()
