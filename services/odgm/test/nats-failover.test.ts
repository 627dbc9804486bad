import { afterAll, beforeAll, expect, test } from "bun:test"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { makeTempDir, type NatsCluster, startNatsCluster } from "@oprc/test-harness"
import { type FunctionProcess, natsR3Args, repoRoot, rest, spawnOdgm, startFunction } from "./support/odgm.ts"

// Kill one of three nats-servers during a write load through ODGM's API (NATS engine, R3):
// ODGM keeps serving (writes are acknowledged again after the failover) and no acknowledged
// write is lost: every acknowledged PUT reads back with its value, and the counter holds at
// least every acknowledged increment (an unacknowledged one may or may not have landed).

let cluster: NatsCluster
let counter: FunctionProcess
let dir: string

beforeAll(async () => {
  ;[cluster, counter] = await Promise.all([
    startNatsCluster(3),
    startFunction(join(repoRoot, "examples/counter/src/main.ts")),
  ])
  dir = makeTempDir("odgm-nats-failover")
  writeFileSync(
    join(dir, "collections.json"),
    JSON.stringify({
      collections: [
        { name: "fo.Item", partitionCount: 2, functions: {} },
        { name: "counter.Counter", partitionCount: 1, functions: { increment: { url: counter.url } } },
      ],
    }),
  )
}, 60_000)
afterAll(async () => {
  await counter?.stop()
  await cluster?.stop()
})

/** Index of the node leading the JetStream stream whose name contains `part` (from /jsz). */
const streamLeader = async (part: string): Promise<number> => {
  for (const m of cluster.monitorUrls) {
    const j = (await (await fetch(`${m}/jsz?accounts=true&streams=true`)).json()) as {
      account_details?: Array<{ stream_detail?: Array<{ name: string; cluster?: { leader?: string } }> }>
    }
    const leader = j.account_details?.flatMap((a) => a.stream_detail ?? []).find((s) => s.name.includes(part))?.cluster
      ?.leader
    if (leader) return Number(leader.replace(/^n/, "")) - 1
  }
  throw new Error(`no leader found for a stream named *${part}*`)
}

test("a NATS node dies under write load: ODGM keeps serving, no acknowledged write is lost", async () => {
  const odgm = await spawnOdgm([...natsR3Args(cluster.urls), "--collections", join(dir, "collections.json")], {
    env: { OPRC_INVOCATION_TIMEOUT_MS: "20000" },
  })
  const api = rest(odgm.url)
  const acked = new Map<string, number>()
  const increments = { acked: 0, attempted: 0 }
  let ackedAfterKill = 0
  let killedAt = Number.POSITIVE_INFINITY
  let stop = false
  const t0 = Date.now()

  const writer = async (w: number) => {
    for (let i = 0; !stop; i++) {
      const id = `w${w}-${i}`
      // A PUT is idempotent: retry until acknowledged (the retry after an ambiguous failure is safe).
      for (;;) {
        const r = await api.put(`/api/class/fo.Item/-/objects/${id}`, { entries: { w, i } }).catch(() => undefined)
        if (r && (r.status === 200 || r.status === 201)) {
          acked.set(id, i)
          if (Date.now() > killedAt) ackedAfterKill++
          break
        }
        if (r && r.status < 500) throw new Error(`PUT ${id}: ${r.status} ${r.text}`)
        if (stop) return
        await Bun.sleep(100)
      }
    }
  }
  const incrementer = async () => {
    while (!stop) {
      increments.attempted++
      const r = await api.post("/api/class/counter.Counter/-/objects/c/invokes/increment").catch(() => undefined)
      if (r?.status === 200) increments.acked++
      else await Bun.sleep(100)
    }
  }
  const load = [...Array.from({ length: 6 }, (_, w) => writer(w)), incrementer()]
  await Bun.sleep(2500)
  // Kill the node leading the bucket of fo.Item: the worst case (a leader election must happen).
  const leader = await streamLeader("fo_Item")
  killedAt = Date.now()
  await cluster.kill(leader)
  await Bun.sleep(12_000)
  stop = true
  await Promise.all(load)
  console.log(
    `acked ${acked.size} PUTs (${ackedAfterKill} after killing n${leader + 1} at ${
      killedAt - t0
    } ms), increments ${increments.acked}/${increments.attempted}`,
  )

  try {
    expect(acked.size).toBeGreaterThan(50)
    expect(ackedAfterKill).toBeGreaterThan(10)
    for (const [id, i] of acked) {
      const r = await api.get(`/api/class/fo.Item/-/objects/${id}`)
      expect({ id, status: r.status, i: r.json?.entries?.i }).toEqual({ id, status: 200, i })
    }
    const c = (await api.get("/api/class/counter.Counter/-/objects/c")).json.entries.count as number
    expect(c).toBeGreaterThanOrEqual(increments.acked)
    expect(c).toBeLessThanOrEqual(increments.attempted)
  } finally {
    await odgm.proc.stop(5000)
  }
}, 60_000)
