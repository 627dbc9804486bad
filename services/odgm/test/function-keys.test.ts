import { afterAll, beforeAll, expect, test } from "bun:test"
import { create, fromBinary, toBinary } from "@bufbuild/protobuf"
import { valueToProto } from "@oprc/models"
import { functionv1 } from "@oprc/proto"
import { rest, startOdgm } from "./support/odgm.ts"

// A function is another language's runtime: entry keys it returns are checked like a client's
// (issue 8 leftover): a key no client could write or read back fails the invocation, nothing stored.

let odgm: Awaited<ReturnType<typeof startOdgm>>
let fn: ReturnType<typeof Bun.serve>
let api: ReturnType<typeof rest>
const cls = "keys.Raw"
const base = `/api/class/${cls}/-/objects`

// A raw FunctionService: `set` answers with the keys in the payload (JSON {"set": [...], "delete": [...]}).
const reply = (body: Uint8Array) => {
  const req = fromBinary(functionv1.InvokeRequestSchema, body)
  const ask = JSON.parse(new TextDecoder().decode(req.payload)) as { set?: string[]; delete?: string[] }
  const set = Object.fromEntries((ask.set ?? []).map((k) => [k, valueToProto(1)]))
  return create(functionv1.InvokeResponseSchema, {
    status: functionv1.InvocationStatus.OK,
    state: { set, delete: ask.delete ?? [] },
  })
}

beforeAll(async () => {
  fn = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: async (r) => {
      const res = reply(new Uint8Array(await r.arrayBuffer()))
      return new Response(toBinary(functionv1.InvokeResponseSchema, res), {
        headers: { "content-type": "application/proto" },
      })
    },
  })
  odgm = await startOdgm()
  api = rest(odgm.url)
  const url = `http://127.0.0.1:${fn.port}`
  expect((await api.put(`/api/collections/${cls}`, { functions: { set: { url } } })).status).toBe(200)
  expect((await api.put(`${base}/o`, { entries: { keep: 7 } })).status).toBe(201)
})
afterAll(async () => {
  await odgm?.stop()
  await fn?.stop(true)
})

const invoke = (payload: unknown) => api.post(`${base}/o/invokes/set`, payload)

test("valid keys a function sets and deletes are stored", async () => {
  expect((await invoke({ set: ["a.b:c-d", "ü"] })).status).toBe(200)
  expect((await api.get(`${base}/o`)).json.entries).toEqual({ keep: 7, "a.b:c-d": 1, "ü": 1 })
  expect((await invoke({ delete: ["ü"] })).status).toBe(200)
  expect((await api.get(`${base}/o`)).json.entries).toEqual({ keep: 7, "a.b:c-d": 1 })
})

test("a set key with a control character, whitespace, empty or too long is a SYSTEM_ERROR naming it", async () => {
  for (const key of ["a\u0000b", "line\nbreak", "with space", "", "k".repeat(257)]) {
    const r = await invoke({ set: ["fine", key] })
    expect([JSON.stringify(key).slice(0, 20), r.status]).toEqual([JSON.stringify(key).slice(0, 20), 502])
    expect(r.text).toContain("invalid entry key")
    expect(r.text).toContain(
      JSON.stringify(JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}...` : key)).slice(1, -1),
    )
  }
  // Nothing of those answers was stored, not even the valid key beside the bad one.
  expect((await api.get(`${base}/o`)).json.entries).toEqual({ keep: 7, "a.b:c-d": 1 })
})

test("a bad key in the delete list is refused the same way", async () => {
  const r = await invoke({ delete: ["keep", "x\u0001"] })
  expect(r.status).toBe(502)
  expect(r.text).toContain("invalid entry key")
  expect((await api.get(`${base}/o`)).json.entries).toEqual({ keep: 7, "a.b:c-d": 1 })
})
