import { afterAll, beforeAll, expect, test } from "bun:test"
import { healthUnderLoad } from "@oprc/test-harness"
import { spawnOdgm } from "./support/odgm.ts"

// Issue 7, obs. 2 and 5 on ODGM: while four worst-case requests (just under every limit, and one
// over a limit) run back to back on four connections, /healthz keeps answering quickly and memory
// stays bounded. ODGM is a real process; RSS is read from /proc. (The 1 M-trigger collection is in
// validation.test.ts: its cost is JSON.parse of a million objects at the edge, 60-180 ms here.)

const RUN_MS = 4000
// The aim: /healthz p99 under 100 ms on a quiet machine (measured 45-66 ms there, after
// the heavy lane and the stepped decoding; before them 150-250 ms, and 3-14 s before the limits).
const HEALTH_P99_AIM_MS = 100
const RSS_GROWTH_BUDGET_MB = 300

let odgm: Awaited<ReturnType<typeof spawnOdgm>>
const cls = "load.Deep"

beforeAll(async () => {
  odgm = await spawnOdgm(["--storage", "memory"], { env: { OPRC_TELEMETRY_LOG_LEVEL: "error" } })
})
afterAll(() => odgm?.proc.stop(3000))

const nest = (n: number): unknown => {
  let v: unknown = 1
  for (let i = 0; i < n; i++) v = { d: v }
  return v
}

test("/healthz p99 stays bounded (aim 100 ms) and RSS within budget while 4 worst-case requests run", async () => {
  const functions = Object.fromEntries(Array.from({ length: 256 }, (_, i) => [`f${i}`, { url: "http://127.0.0.1:9" }]))
  const under = {
    functions,
    triggers: Array.from(
      { length: 256 },
      (_, i) => ({ event: "DATA_UPDATE", source: "*", target: { function: `f${i}` } }),
    ),
  }
  expect(
    (await fetch(`${odgm.url}/api/collections/${cls}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(under),
    })).status,
  ).toBe(200)
  // The request body adds two levels above an entry; 30 keeps it under server.maxJsonDepth (32).
  const entries = Object.fromEntries(Array.from({ length: 1024 }, (_, i) => [`k${i}`, nest(30)]))
  const requests = [
    {
      name: "collection just under every limit",
      method: "PUT",
      path: `/api/collections/${cls}`,
      body: JSON.stringify(under),
    },
    // Every entry a list: 100 k values. (A 3.5 MB object of 717 k values takes 200-330 ms per PUT
    // on a loaded machine in the write path itself -- copies and parses of the body, the storage
    // write -- not in validation; docs/odgm.md "Large objects".)
    {
      name: "object of 1024 lists, 100 k values",
      method: "PUT",
      path: `/api/class/${cls}/-/objects/big`,
      body: JSON.stringify({
        entries: Object.fromEntries(Array.from({ length: 1024 }, (_, i) => [`k${i}`, Array(100).fill(1)])),
      }),
    },
    {
      name: "object with 1024 entries 30 deep",
      method: "PUT",
      path: `/api/class/${cls}/-/objects/deep`,
      body: JSON.stringify({ entries }),
    },
    {
      name: "object with 2000 entries",
      method: "PUT",
      path: `/api/class/${cls}/-/objects/wide`,
      body: JSON.stringify({ entries: Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`k${i}`, i])) }),
    },
  ]
  for (const r of requests) expect(r.body.length).toBeLessThan(4 * 1024 * 1024)
  const send = (r: (typeof requests)[number]) =>
    fetch(`${odgm.url}${r.path}`, { method: r.method, headers: { "content-type": "application/json" }, body: r.body })
      .then(async (x) => (await x.text(), x.status))
  const report = await healthUnderLoad({
    url: odgm.url,
    pid: odgm.proc.pid,
    runMs: RUN_MS,
    requests: requests.map((r) => ({ name: r.name, send: () => send(r) })),
  })
  console.log("odgm worst-case load:", JSON.stringify(report))
  const expected: Record<string, ReadonlyArray<number>> = {
    "collection just under every limit": [200],
    "object of 1024 lists, 100 k values": [200, 201],
    "object with 1024 entries 30 deep": [200, 201],
    "object with 2000 entries": [400],
  }
  for (const [name, seen] of Object.entries(report.requests)) {
    expect([name, Object.keys(seen).every((s) => expected[name]!.includes(Number(s)))]).toEqual([name, true])
  }
  // On a loaded machine every stretch of CPU work takes longer by about load/cores: the aim grows by that factor.
  console.log(`/healthz p99 ${report.p99Ms} ms (aim ${HEALTH_P99_AIM_MS} ms x slowdown ${report.slowdown})`)
  expect(report.p99Ms).toBeLessThan(HEALTH_P99_AIM_MS * report.slowdown + report.idleP99Ms)
  expect(report.rssPeakMb - report.rssBaselineMb).toBeLessThan(RSS_GROWTH_BUDGET_MB)
}, 60_000)
