import { afterAll, beforeAll, expect, test } from "bun:test"
import { healthUnderLoad, type LoadRequest } from "@oprc/test-harness"
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

// The aim, on a quiet machine; on a loaded one every stretch of CPU work takes about
// load/cores times longer, and the bound grows by that factor (the 3-12 s stalls of the issue
// still fail).
const HEALTH_P99_AIM_MS = 100
const RSS_GROWTH_BUDGET_MB = 400

const post = (url: string, method: string, body: string, type = "application/json") => async () => {
  const r = await fetch(url, { method, headers: { "content-type": type }, body })
  await r.arrayBuffer()
  return r.status
}

const measure = async (server: { url: string; proc: { pid: number } }, requests: ReadonlyArray<LoadRequest>) => {
  const report = await healthUnderLoad({ url: server.url, pid: server.proc.pid, runMs: 4000, requests })
  console.log(`${server.url} under 4 worst-case bodies: ${JSON.stringify(report)}`)
  for (const [name, seen] of Object.entries(report.requests)) {
    expect([name, Object.keys(seen).every((s) => Number(s) < 500)]).toEqual([name, true])
  }
  expect(report.p99Ms).toBeLessThan(HEALTH_P99_AIM_MS * report.slowdown + report.idleP99Ms)
  expect(report.rssPeakMb - report.rssBaselineMb).toBeLessThan(RSS_GROWTH_BUDGET_MB)
}

test("PM: /healthz p99 under 100 ms while 4 worst-case bodies are processed concurrently", async () => {
  const rest = deepAndWide((inner) => `{"name":"loop","version":"1.0.0","metadata":{"labels":{"x":"y"}},"x":${inner}}`)
  const connect = deepAndWide((inner) =>
    `{"package":{"name":"loop","version":"1.0.0","metadata":{"tags":[]},"classes":[],"x":${inner}}}`
  )
  await measure(pm, [
    { name: "REST package, deep and wide", send: post(`${pm.url}/api/v1/packages`, "POST", rest) },
    {
      name: "Connect package, deep and wide",
      send: post(`${pm.url}/oprc.pm.v1.PackageService/CreatePackage`, "POST", connect),
    },
    {
      name: "REST deployment, too deep at the end",
      send: post(`${pm.url}/api/v1/deployments`, "POST", deepAtTheEnd()),
    },
    {
      name: "Connect package, too deep at the end",
      send: post(`${pm.url}/oprc.pm.v1.PackageService/CreatePackage`, "POST", deepAtTheEnd()),
    },
  ])
}, 40_000)

test("ODGM: /healthz p99 under 100 ms while 4 worst-case object writes are processed concurrently", async () => {
  const entries = deepAndWide((inner) => `{"entries":{"a":${inner}}}`)
  await measure(odgm, [
    { name: "object w1, deep and wide", send: post(`${odgm.url}/api/class/loop.T/0/objects/w1`, "PUT", entries) },
    { name: "object w2, deep and wide", send: post(`${odgm.url}/api/class/loop.T/0/objects/w2`, "PUT", entries) },
    {
      name: "object w3, too deep at the end",
      send: post(`${odgm.url}/api/class/loop.T/0/objects/w3`, "PUT", deepAtTheEnd()),
    },
    {
      name: "Connect PutObject, too deep at the end",
      send: post(`${odgm.url}/oprc.odgm.v1.ObjectService/PutObject`, "POST", deepAtTheEnd()),
    },
  ])
}, 40_000)
