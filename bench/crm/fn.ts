// The trivial function of bench/crm: answers /readyz (and everything else) at once, and prints
// when its process started (from /proc, 10 ms resolution) and when it listened, so the bench can
// subtract the function's own start time from apply -> Available.
import { readFileSync } from "node:fs"

const server = Bun.serve({
  port: Number(process.env.PORT),
  hostname: process.env.HOST ?? "127.0.0.1",
  fetch: () => new Response("ok"),
})
const now = Date.now()
const stat = readFileSync("/proc/self/stat", "utf8")
const startTicks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19])
const uptime = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0])
const started = now - (uptime - startTicks / 100) * 1000
console.log(`started ${Math.round(started)} listening ${now} port ${server.port}`)
process.on("SIGTERM", () => {
  server.stop(true)
  process.exit(0)
})
