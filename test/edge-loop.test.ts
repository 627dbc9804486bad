import { afterAll, beforeAll, expect, test } from "bun:test"
import { loadavg } from "node:os"
import { spawnService } from "./edge-support"

// Issue 7: the event loop stays responsive. Four worst-case requests just under the body limits
// (size and depth) run concurrently, again and again, while /healthz is polled; p99 of /healthz
// and the server's RSS are measured. (Package-validation worst cases are VALID's test.)

const LIMIT = 4 * 1024 * 1024
let pm: Awaited<ReturnType<typeof spawnService>>
let odgm: Awaited<ReturnType<typeof spawnService>>

beforeAll(async () => {
  ;[pm, odgm] = await Promise.all([spawnService("pm"), spawnService("odgm")])
  await fetch(`${odgm.url}/api/collections/loop.T`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "loop.T", functions: {} }),
  })
})
afterAll(async () => {
  await Promise.all([pm?.proc.stop(), odgm?.proc.stop()])
})

/**
 * JSON just under every body limit: ~4 MB (server.bodyLimitBytes), nested 31 levels (one under
 * server.maxJsonDepth) around a leaf array of 99,000 strings (under server.maxJsonValues).
 */
const deepAndWide = (wrap: (inner: string) => string) => {
  let inner = "[__WIDE__]"
  for (let i = 0; i < 29; i++) inner = `{"k":${inner}}`
  const head = wrap(inner)
  const items = 99_000
  const itemLength = Math.floor((LIMIT - head.length - 1024) / items) - 3
  return head.replace("__WIDE__", Array(items).fill(`"${"v".repeat(itemLength)}"`).join(","))
}

/** A body one level too deep at the very end of a 4 MB document: the depth scan reads it all. */
const deepAtTheEnd = () => `{"pad":"${"x".repeat(LIMIT - 200)}","d":${"[".repeat(40)}${"]".repeat(40)}}`

const load = () => loadavg()[0]!.toFixed(1)

const percentile = (xs: ReadonlyArray<number>, p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!

const underLoad = async (
  server: { url: string; rssMb: () => number },
  requests: ReadonlyArray<() => Promise<number>>,
  ms: number,
) => {
  const latencies: Array<number> = []
  const statuses = new Map<number, number>()
  let peakRss = server.rssMb()
  const until = Date.now() + ms
  const poll = (async () => {
    while (Date.now() < until) {
      const t = performance.now()
      const r = await fetch(`${server.url}/healthz`)
      await r.arrayBuffer()
      latencies.push(performance.now() - t)
      peakRss = Math.max(peakRss, server.rssMb())
      await Bun.sleep(10)
    }
  })()
  const load = requests.map(async (send) => {
    while (Date.now() < until) {
      const status = await send()
      statuses.set(status, (statuses.get(status) ?? 0) + 1)
    }
  })
  await Promise.all([poll, ...load])
  return {
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    max: Math.max(...latencies),
    polls: latencies.length,
    peakRss,
    statuses: Object.fromEntries(statuses),
  }
}

const post = (url: string, method: string, body: string, type = "application/json") => async () => {
  const r = await fetch(url, { method, headers: { "content-type": type }, body })
  await r.arrayBuffer()
  return r.status
}

test("PM: /healthz p99 stays low while 4 worst-case bodies are processed concurrently", async () => {
  const rest = deepAndWide((inner) => `{"name":"loop","version":"1.0.0","metadata":{"labels":{"x":"y"}},"x":${inner}}`)
  const connect = deepAndWide((inner) =>
    `{"package":{"name":"loop","version":"1.0.0","metadata":{"tags":[]},"classes":[],"x":${inner}}}`
  )
  const before = pm.rssMb()
  const r = await underLoad(pm, [
    post(`${pm.url}/api/v1/packages`, "POST", rest),
    post(`${pm.url}/oprc.pm.v1.PackageService/CreatePackage`, "POST", connect),
    post(`${pm.url}/api/v1/deployments`, "POST", deepAtTheEnd()),
    post(`${pm.url}/oprc.pm.v1.PackageService/CreatePackage`, "POST", deepAtTheEnd()),
  ], 6000)
  console.log(
    `PM under 4 worst-case bodies: /healthz p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${
      r.max.toFixed(1)
    } ms over ${r.polls} polls; RSS ${before.toFixed(0)} -> peak ${r.peakRss.toFixed(0)} MiB; answers ${
      JSON.stringify(r.statuses)
    }; load average ${load()}`,
  )
  expect(Object.keys(r.statuses).every((s) => Number(s) < 500)).toBe(true)
  // Target 100 ms on a quiet machine. The shared 2-core dev machine (load average 7-9 while
  // this was written) gets headroom; the stalls of the issue (3-12 s) still fail.
  expect(r.p99).toBeLessThan(1000)
  expect(r.peakRss - before).toBeLessThan(400)
}, 30_000)

test("ODGM: /healthz p99 stays low while 4 worst-case object writes are processed concurrently", async () => {
  const entries = deepAndWide((inner) => `{"entries":{"a":${inner}}}`)
  const before = odgm.rssMb()
  const r = await underLoad(odgm, [
    post(`${odgm.url}/api/class/loop.T/0/objects/w1`, "PUT", entries),
    post(`${odgm.url}/api/class/loop.T/0/objects/w2`, "PUT", entries),
    post(`${odgm.url}/api/class/loop.T/0/objects/w3`, "PUT", deepAtTheEnd()),
    post(`${odgm.url}/oprc.odgm.v1.ObjectService/PutObject`, "POST", deepAtTheEnd()),
  ], 6000)
  console.log(
    `ODGM under 4 worst-case bodies: /healthz p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${
      r.max.toFixed(1)
    } ms over ${r.polls} polls; RSS ${before.toFixed(0)} -> peak ${r.peakRss.toFixed(0)} MiB; answers ${
      JSON.stringify(r.statuses)
    }; load average ${load()}`,
  )
  expect(Object.keys(r.statuses).every((s) => Number(s) < 500)).toBe(true)
  expect(r.p99).toBeLessThan(1000)
  expect(r.peakRss - before).toBeLessThan(400)
}, 30_000)
