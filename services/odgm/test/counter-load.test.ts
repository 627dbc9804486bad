import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { makeTempDir, type NatsServer, startNats } from "@oprc/test-harness"
import { type FunctionProcess, repoRoot, spawnOdgm, sqliteArgs, startFunction } from "./support/odgm.ts"

// 1,000 concurrent `increment` calls on ONE counter through the REST gateway: no update may be
// lost to a race. Every call must succeed, each must see a distinct count, and the final count
// must be exactly 1,000: with SQLite behind one ODGM (per-object turns), and with NATS behind two
// ODGM processes (turns on each node, version-checked commits between them).

const N = 1000
const cls = "counter.Counter"
let counter: FunctionProcess
let dir: string

beforeAll(async () => {
  counter = await startFunction(join(repoRoot, "examples/counter/src/main.ts"))
  dir = makeTempDir("odgm-load")
  writeFileSync(
    join(dir, "collections.json"),
    JSON.stringify({
      collections: [{
        name: cls,
        partitionCount: 4,
        functions: { increment: { url: counter.url }, get: { url: counter.url } },
      }],
    }),
  )
}, 30_000)
afterAll(() => counter?.stop())

const hammer = async (urls: ReadonlyArray<string>, id: string) => {
  const started = Date.now()
  const replies = await Promise.all(
    Array.from(
      { length: N },
      (_, i) =>
        fetch(`${urls[i % urls.length]}/api/class/${cls}/-/objects/${id}/invokes/increment`, {
          method: "POST",
          body: "{}",
        }).then(async (r) => ({
          status: r.status,
          body: await r.text(),
        })),
    ),
  )
  const seconds = (Date.now() - started) / 1000
  const failed = replies.filter((r) => r.status !== 200)
  expect(failed.slice(0, 3)).toEqual([])
  const counts = replies.map((r) => (JSON.parse(r.body) as { count: number }).count).sort((a, b) => a - b)
  expect(counts).toEqual(Array.from({ length: N }, (_, i) => i + 1))
  const final = (await (await fetch(`${urls[0]}/api/class/${cls}/-/objects/${id}`)).json()) as {
    entries: { count: number }
    version: string
  }
  expect(final.entries.count).toBe(N)
  expect(final.version).toBe(String(N))
  return seconds
}

describe("1,000 concurrent increments on one counter", () => {
  test("SQLite, one ODGM", async () => {
    const odgm = await spawnOdgm(sqliteArgs(join(dir, "odgm.sqlite"), join(dir, "collections.json")))
    try {
      const seconds = await hammer([odgm.url], "sqlite-counter")
      console.log(`sqlite: ${N} increments in ${seconds.toFixed(1)} s`)
    } finally {
      await odgm.proc.stop(5000)
    }
  }, 60_000)

  describe("NATS, two ODGM processes", () => {
    let nats: NatsServer
    beforeAll(async () => {
      nats = await startNats()
    }, 30_000)
    afterAll(() => nats?.stop())

    test("calls spread over both nodes", async () => {
      const args = ["--storage", "nats", "--nats", nats.url, "--collections", join(dir, "collections.json")]
      const [a, b] = await Promise.all([spawnOdgm(args, { name: "odgm-a" }), spawnOdgm(args, { name: "odgm-b" })])
      try {
        const seconds = await hammer([a.url, b.url], "nats-counter")
        console.log(`nats (2 nodes): ${N} increments in ${seconds.toFixed(1)} s`)
        // Both nodes did real work, and the cross-node races were resolved by re-runs.
        const metrics = await Promise.all([a, b].map(async (o) => (await fetch(`${o.url}/metrics`)).text()))
        for (const m of metrics) {
          expect(m).toMatch(/oprc_odgm_invocations_total\{cls="counter.Counter",fn="increment",status="ok"\} 500/)
        }
      } finally {
        await Promise.all([a.proc.stop(5000), b.proc.stop(5000)])
      }
    }, 60_000)
  })
})
