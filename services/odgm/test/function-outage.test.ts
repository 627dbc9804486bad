import { afterAll, beforeAll, expect, test } from "bun:test"
import { Code, ConnectError, createClient } from "@connectrpc/connect"
import { createConnectTransport } from "@connectrpc/connect-node"
import { odgmv1 } from "@oprc/proto"
import { type FunctionProcess, probeCollection, probeEntry, rest, startFunction, startOdgm } from "./support/odgm.ts"

// Kill the function process under load: calls fail fast with 503 / UNAVAILABLE, none hangs past
// its deadline, no update is lost or invented, and calls succeed again once the function is back.

const DEADLINE_MS = 3000
let fn: FunctionProcess
let odgm: Awaited<ReturnType<typeof startOdgm>>

beforeAll(async () => {
  fn = await startFunction(probeEntry)
  odgm = await startOdgm({ invocation: { timeoutMs: DEADLINE_MS, breakerResetMs: 5000 } })
  expect((await rest(odgm.url).put("/api/collections/load.Probe", probeCollection("load.Probe", fn.url))).status).toBe(
    200,
  )
}, 30_000)
afterAll(async () => {
  await odgm?.stop()
  await fn?.stop()
})

interface Call {
  readonly worker: number
  readonly start: number
  readonly ms: number
  readonly status: number
}

test("a killed function: fast 503s, no hangs, no lost updates, recovery", async () => {
  const t0 = Date.now()
  const calls: Call[] = []
  let stop = false
  const worker = async (w: number) => {
    while (!stop) {
      const start = Date.now()
      const r = await fetch(`${odgm.url}/api/class/load.Probe/-/objects/w${w}/invokes/increment`, { method: "POST" })
      await r.arrayBuffer()
      calls.push({ worker: w, start: start - t0, ms: Date.now() - start, status: r.status })
    }
  }
  const workers = Array.from({ length: 16 }, (_, w) => worker(w))

  await Bun.sleep(1500)
  const killedAt = Date.now() - t0
  await fn.proc.kill9()
  await Bun.sleep(500)
  const rpc = createClient(odgmv1.InvocationService, createConnectTransport({ baseUrl: odgm.url, httpVersion: "1.1" }))
  const viaRpc = await rpc.invoke({ cls: "load.Probe", objectId: "rpc", function: "increment" }).then(
    () => undefined,
    (e: unknown) => ConnectError.from(e).code,
  )
  expect(viaRpc).toBe(Code.Unavailable)
  await Bun.sleep(1500)
  const restartAt = Date.now() - t0
  await fn.restart()
  const upAt = Date.now() - t0
  await Bun.sleep(2000)
  stop = true
  await Promise.all(workers)

  // Nothing hung: every call answered within its deadline.
  expect(Math.max(...calls.map((c) => c.ms))).toBeLessThan(DEADLINE_MS + 500)
  const before = calls.filter((c) => c.start + c.ms < killedAt)
  const outage = calls.filter((c) => c.start > killedAt + 100 && c.start + c.ms < restartAt)
  const after = calls.filter((c) => c.start > upAt + 1000)
  expect(before.length).toBeGreaterThan(50)
  expect(before.every((c) => c.status === 200)).toBe(true)
  // While it is down: 503, fast (connection refused, then the open circuit).
  expect(outage.length).toBeGreaterThan(50)
  expect([...new Set(outage.map((c) => c.status))]).toEqual([503])
  const sorted = outage.map((c) => c.ms).sort((a, b) => a - b)
  expect(sorted[Math.floor(sorted.length * 0.99)]!).toBeLessThan(250)
  // Back: calls succeed again, as soon as the function is (its health check says SERVING), not
  // when the breaker's backoff (up to 5 s here) would next have let a trial through.
  const firstOk = calls.filter((c) => c.status === 200 && c.start + c.ms > upAt).map((c) => c.start + c.ms).sort((
    a,
    b,
  ) => a - b)[0]!
  expect(firstOk - upAt).toBeLessThan(1000)
  expect(after.length).toBeGreaterThan(20)
  expect(after.every((c) => c.status === 200)).toBe(true)
  // Calls in flight when it died got a 5xx, never a hang; the gateway itself never failed (500).
  expect(calls.some((c) => c.status === 500)).toBe(false)

  // Exactly the acknowledged increments were committed: each counter equals its 200s.
  const api = rest(odgm.url)
  for (let w = 0; w < 16; w++) {
    const ok = calls.filter((c) => c.worker === w && c.status === 200).length
    expect((await api.get(`/api/class/load.Probe/-/objects/w${w}`)).json.entries.count).toBe(ok)
  }
  console.log(
    `calls: ${calls.length} (before ${before.length}, outage ${outage.length} p99 ${
      sorted[Math.floor(sorted.length * 0.99)]
    } ms, after ${after.length}; first OK ${firstOk - upAt} ms after the function was up)`,
  )
}, 60_000)
