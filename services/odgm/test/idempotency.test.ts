import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { createClient } from "@connectrpc/connect"
import { createGrpcTransport } from "@connectrpc/connect-node"
import { functionv1, odgmv1 } from "@oprc/proto"
import { type FunctionProcess, probeCollection, probeEntry, rest, startFunction, startOdgm } from "./support/odgm.ts"

// Invocation ids as idempotency keys, on every path a client has: REST sync (x-oprc-invocation-id
// and Idempotency-Key), REST async, RPC, stateless, and functions that change nothing.

let probe: FunctionProcess
const servers: Array<Awaited<ReturnType<typeof startOdgm>>> = []
const cls = "idem.Probe"
const obj = (id: string, fn: string) => `/api/class/${cls}/-/objects/${id}/invokes/${fn}`

beforeAll(async () => {
  probe = await startFunction(probeEntry)
}, 30_000)
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()))
  await probe?.stop()
})

for (const kind of ["memory", "sqlite"] as const) {
  describe(`idempotency keys (${kind})`, () => {
    let api: ReturnType<typeof rest>
    let url: string
    beforeAll(async () => {
      const dir = (await import("@oprc/test-harness")).makeTempDir("odgm-idem")
      const odgm = await startOdgm({
        storage: kind === "memory" ? { kind } : { kind, sqlite: { path: `${dir}/odgm.sqlite` } },
      })
      servers.push(odgm)
      url = odgm.url
      api = rest(url)
      expect((await api.put(`/api/collections/${cls}`, probeCollection(cls, probe.url))).status).toBe(200)
    })
    const count = async (id: string) => (await api.get(`/api/class/${cls}/-/objects/${id}`)).json?.entries?.count

    test("a sync retry with the same key answers the first outcome and applies nothing again", async () => {
      const first = await api.post(obj("k1", "increment"), undefined, { "x-oprc-invocation-id": "key-1" })
      expect([first.status, first.json, first.headers.get("x-oprc-object-version")]).toEqual([200, { count: 1 }, "1"])
      for (let i = 0; i < 3; i++) {
        const again = await api.post(obj("k1", "increment"), undefined, { "idempotency-key": "key-1" })
        expect([
          again.status,
          again.json,
          again.headers.get("x-oprc-invocation-id"),
          again.headers.get("x-oprc-object-version"),
        ]).toEqual([200, { count: 1 }, "key-1", "1"])
      }
      expect(await count("k1")).toBe(1)
      // Without a key every call is a new invocation.
      await api.post(obj("k1", "increment"))
      await api.post(obj("k1", "increment"))
      expect(await count("k1")).toBe(3)
    })

    test("concurrent calls with one key run the function once", async () => {
      const replies = await Promise.all(
        Array.from({ length: 8 }, () => api.post(obj("k2", "increment"), undefined, { "idempotency-key": "key-2" })),
      )
      expect(replies.map((r) => r.json)).toEqual(Array.from({ length: 8 }, () => ({ count: 1 })))
      expect(await count("k2")).toBe(1)
    })

    test("the same key with another request is refused with 409 and changes nothing", async () => {
      expect((await api.post(obj("k3", "set"), { value: 1 }, { "idempotency-key": "key-3" })).status).toBe(200)
      const other = await api.post(obj("k3", "set"), { value: 2 }, { "idempotency-key": "key-3" })
      expect([other.status, other.json.error.code]).toEqual([409, "failed_precondition"])
      expect(other.json.error.message).toMatch(/key-3 was already used for a different request/)
      expect((await api.post(obj("k4", "set"), { value: 1 }, { "idempotency-key": "key-3" })).status).toBe(409)
      expect((await api.get(`/api/class/${cls}/-/objects/k3`)).json.entries.value).toBe(1)
      const bad = await api.post(obj("k3", "set"), { value: 1 }, { "idempotency-key": "Not Valid" })
      expect([bad.status, bad.json.error.violations?.[0]?.path]).toEqual([400, "idempotency-key"])
    })

    test("successful outcomes without a state change are replayed; failures applied nothing and run again", async () => {
      // A read: the replay answers the first output even after the state moved on.
      expect((await api.post(obj("k5", "increment"))).status).toBe(200)
      expect((await api.post(obj("k5", "get"), undefined, { "idempotency-key": "key-5" })).json.count).toBe(1)
      expect((await api.post(obj("k5", "increment"))).status).toBe(200)
      expect((await api.post(obj("k5", "get"), undefined, { "idempotency-key": "key-5" })).json.count).toBe(1)
      expect((await api.post(obj("k5", "get"))).json.count).toBe(2)
      // An APP_ERROR is not recorded: the retry runs the function again (and it refuses again).
      // (The metrics registry is per process, shared by this file's two ODGMs: count the difference.)
      const refusals = async () =>
        Number(
          /oprc_odgm_invocations_total\{cls="idem.Probe",fn="fail",status="app_error"\} (\d+)/.exec(
            await (await fetch(`${url}/metrics`)).text(),
          )?.[1] ?? 0,
        )
      const before = await refusals()
      const failed = await api.post(obj("k5", "fail"), undefined, { "idempotency-key": "key-5b" })
      expect(failed.status).toBe(422)
      expect((await api.post(obj("k5", "fail"), undefined, { "idempotency-key": "key-5b" })).json).toEqual(failed.json)
      expect(await refusals()).toBe(before + 2)
      const hello = await api.post(`/api/class/${cls}/-/invokes/hello`, { name: "a" }, { "idempotency-key": "key-6" })
      expect(hello.json.greeting).toBe("hello a")
      expect(
        (await api.post(`/api/class/${cls}/-/invokes/hello`, { name: "b" }, { "idempotency-key": "key-6" })).status,
      ).toBe(409)
    })

    test("async: a re-submit of a known id is the same invocation; sync with the async id replays it", async () => {
      const key = { "x-oprc-invocation-id": "job-1" }
      expect((await api.post(`${obj("k7", "increment")}?async=true`, undefined, key)).status).toBe(202)
      expect((await api.post(`${obj("k7", "increment")}?async=true`, undefined, key)).status).toBe(202)
      const done = await api.get("/api/invocations/job-1?waitMs=5000")
      expect(done.json).toMatchObject({ state: "DONE", status: "OK", output: { count: 1 }, objectVersion: "1" })
      expect((await api.post(`${obj("k7", "increment")}?async=true`, undefined, key)).status).toBe(202)
      expect((await api.post(obj("k7", "increment"), undefined, key)).json).toEqual({ count: 1 })
      await Bun.sleep(200)
      expect(await count("k7")).toBe(1)
      expect((await api.post(`${obj("k7", "set")}?async=true`, { value: 3 }, key)).status).toBe(409)
    })

    test("RPC: InvokeRequest.invocation_id is the idempotency key", async () => {
      const inv = createClient(odgmv1.InvocationService, createGrpcTransport({ baseUrl: url }))
      const a = await inv.invoke({ cls, objectId: "k8", function: "increment", invocationId: "rpc-1" })
      const b = await inv.invoke({ cls, objectId: "k8", function: "increment", invocationId: "rpc-1" })
      expect([a.status, b.status]).toEqual([functionv1.InvocationStatus.OK, functionv1.InvocationStatus.OK])
      expect([a.invocationId, b.invocationId, b.objectVersion]).toEqual(["rpc-1", "rpc-1", 1n])
      expect(new TextDecoder().decode(b.output)).toBe(new TextDecoder().decode(a.output))
      expect(await count("k8")).toBe(1)
      const bad = await inv.invoke({ cls, objectId: "k8", function: "increment", invocationId: "UPPER" }).then(
        () => "ok",
        (e: unknown) => String(e),
      )
      expect(bad).toMatch(/invalid_argument|invocationId/i)
    })
  })
}
