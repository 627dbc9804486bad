import { expect, test } from "bun:test"
import { startNats } from "@oprc/test-harness"
import { rest, startOdgm } from "./support/odgm.ts"

// Storage is retried in one layer, the engine (docs/architecture.md "Retries"), and a request does
// not wait for it past its own deadline: with the only nats-server gone, the NATS engine would ride
// out its 15 s failover budget, but an object GET or listing answers 504 at the gateway's deadline
// (1 s here) and an invocation's load at the invocation's `?timeoutMs=`.
test("storage gone: reads answer 504 at the request's deadline, not after the engine's failover budget", async () => {
  const nats = await startNats()
  const odgm = await startOdgm({
    storage: { kind: "nats", nats: { servers: [nats.url] } },
    invocation: { timeoutMs: 1000 },
    // The collection stays cached: this test is about the object reads.
    collections: { refreshMs: 600_000 },
  })
  const api = rest(odgm.url)
  let natsStopped = false
  try {
    const created = await api.put("/api/collections/dl.Item", {
      partitionCount: 1,
      functions: { touch: { url: "http://127.0.0.1:9" } },
    })
    expect(created.status).toBe(200)
    expect((await api.put("/api/class/dl.Item/0/objects/a", { entries: { n: 1 } })).status).toBe(201)
    expect((await api.get("/api/class/dl.Item/0/objects/a")).status).toBe(200)

    await nats.stop()
    natsStopped = true

    const timed = async (call: () => Promise<{ status: number; json: any }>) => {
      const t0 = performance.now()
      const r = await call()
      return { status: r.status, code: r.json?.error?.code, ms: performance.now() - t0 }
    }
    const get = await timed(() => api.get("/api/class/dl.Item/0/objects/a"))
    const invoke = await timed(() => api.post("/api/class/dl.Item/0/objects/a/invokes/touch?timeoutMs=1500", {}))
    const list = await timed(() => api.get("/api/class/dl.Item/-/objects?entries=true"))
    console.log(
      `with NATS gone: GET ${get.status} after ${get.ms.toFixed(0)} ms, invoke ${invoke.status} after ${
        invoke.ms.toFixed(0)
      } ms, list ${list.status} after ${list.ms.toFixed(0)} ms`,
    )
    expect([get.status, get.code]).toEqual([504, "deadline_exceeded"])
    expect([invoke.status, invoke.code]).toEqual([504, "deadline_exceeded"])
    expect([list.status, list.code]).toEqual([504, "deadline_exceeded"])
    // Not before the deadline; well before the 15 s budget (slack for a loaded machine).
    expect(get.ms).toBeGreaterThanOrEqual(950)
    expect(get.ms).toBeLessThan(8000)
    expect(invoke.ms).toBeGreaterThanOrEqual(1450)
    expect(invoke.ms).toBeLessThan(8000)
    expect(list.ms).toBeGreaterThanOrEqual(950)
    expect(list.ms).toBeLessThan(8000)
  } finally {
    await odgm.stop()
    if (!natsStopped) await nats.stop()
  }
}, 60_000)
