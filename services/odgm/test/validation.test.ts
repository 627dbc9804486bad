import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { availableParallelism, loadavg } from "node:os"
import { Code, ConnectError, createClient } from "@connectrpc/connect"
import { createConnectTransport } from "@connectrpc/connect-node"
import { valueToProto } from "@oprc/models"
import { functionv1, odgmv1 } from "@oprc/proto"
import { type FunctionProcess, probeCollection, probeEntry, rest, startFunction, startOdgm } from "./support/odgm.ts"

// Issue 7, obs. 5 and 8: ODGM refuses state no function runtime can take (too deep), on every
// write path, and ids/keys ordinary clients could not address or store safely.

let odgm: Awaited<ReturnType<typeof startOdgm>>
let probe: FunctionProcess
let api: ReturnType<typeof rest>
const cls = "valid.Probe"
const base = `/api/class/${cls}/-/objects`

const nest = (n: number): unknown => {
  let v: unknown = "leaf"
  for (let i = 0; i < n; i++) v = { d: v }
  return v
}
// Time bounds hold on a quiet machine; on a loaded one CPU work takes longer by about load/cores.
const slowdown = () => Math.max(1, loadavg()[0]! / availableParallelism())
const codeOf = (e: unknown) => ConnectError.from(e).code

beforeAll(async () => {
  probe = await startFunction(probeEntry)
  // The body depth limit (server.maxJsonDepth, 32 by default) counts the request's own levels
  // too; raised here so the entry limit is what a 33-level entry meets.
  odgm = await startOdgm({ server: { maxJsonDepth: 64 } })
  api = rest(odgm.url)
  expect((await api.put(`/api/collections/${cls}`, probeCollection(cls, probe.url))).status).toBe(200)
})
afterAll(async () => {
  await odgm?.stop()
  await probe?.stop()
})

const rpcClient = () => {
  const transport = createConnectTransport({ baseUrl: odgm.url, httpVersion: "1.1" })
  return {
    objects: createClient(odgmv1.ObjectService, transport),
    invocations: createClient(odgmv1.InvocationService, transport),
  }
}

describe("entry depth (limits.maxEntryDepth, default 32)", () => {
  test("limits.maxEntryDepth is configurable", async () => {
    const tight = await startOdgm({ server: { maxJsonDepth: 64 }, limits: { maxEntryDepth: 4 } })
    try {
      const t = rest(tight.url)
      expect((await t.put(`/api/collections/${cls}`, { functions: {} })).status).toBe(200)
      expect((await t.put(`${base}/four`, { entries: { s: nest(4) } })).status).toBe(201)
      const r = await t.put(`${base}/five`, { entries: { s: nest(5) } })
      expect([r.status, r.json.error.violations[0].message]).toEqual([
        400,
        "is nested deeper than 4 levels (limits.maxEntryDepth); function runtimes cannot take such state",
      ])
    } finally {
      await tight.stop()
    }
  })

  test("REST PUT/PATCH: 32 levels are stored, 33 are 400 with the entry's path", async () => {
    expect((await api.put(`${base}/deep-ok`, { entries: { s: nest(32) } })).status).toBe(201)
    const put = await api.put(`${base}/deep-bad`, { entries: { ok: 1, s: nest(33) } })
    expect(put.status).toBe(400)
    expect(put.json.error.violations).toEqual([{
      path: `entries.s${".d".repeat(32)}`,
      message: "is nested deeper than 32 levels (limits.maxEntryDepth); function runtimes cannot take such state",
    }])
    expect((await api.get(`${base}/deep-bad`)).status).toBe(404)
    const patch = await api.patch(`${base}/deep-ok`, { entries: { t: nest(40) } })
    expect(patch.status).toBe(400)
    expect(patch.json.error.violations[0].path).toStartWith("entries.t.d.d")
  })

  test("RPC PutObject/MergeObject: InvalidArgument naming the entry", async () => {
    const { objects } = rpcClient()
    const deep = valueToProto(nest(33) as never)
    const put = await objects.putObject({ cls, id: "rpc-deep", entries: { s: deep } }).catch((e) => e)
    expect(codeOf(put)).toBe(Code.InvalidArgument)
    expect(ConnectError.from(put).rawMessage).toContain("entries.s.d")
    expect(codeOf(await objects.getObject({ cls, id: "rpc-deep" }).catch((e) => e))).toBe(Code.NotFound)
    await objects.putObject({ cls, id: "rpc-deep", entries: { s: valueToProto(nest(32) as never) } })
    const merge = await objects.mergeObject({ cls, id: "rpc-deep", entries: { t: deep } }).catch((e) => e)
    expect(codeOf(merge)).toBe(Code.InvalidArgument)
  })

  test("state a function returns deeper than the limit fails the invocation, and the object still works", async () => {
    expect((await api.put(`${base}/fn-deep`, { entries: { count: 1 } })).status).toBe(201)
    const { invocations } = rpcClient()
    const payload = new TextEncoder().encode(JSON.stringify({ value: nest(40) }))
    const r = await invocations.invoke({ cls, objectId: "fn-deep", function: "set", payload })
    expect(r.status).toBe(functionv1.InvocationStatus.SYSTEM_ERROR)
    expect(r.error).toContain("nested deeper than 32 levels")
    // Nothing was stored: the next invoke loads the object as it was.
    const got = await api.post(`/api/class/${cls}/-/objects/fn-deep/invokes/get`)
    expect(got.status).toBe(200)
    expect(got.json.count).toBe(1)
  })
})

describe("ids and key names", () => {
  test("object ids . and .. are refused (REST clients resolve them away)", async () => {
    const { objects } = rpcClient()
    for (const id of [".", ".."]) {
      expect(codeOf(await objects.putObject({ cls, id, entries: {} }).catch((e) => e))).toBe(Code.InvalidArgument)
    }
    // A raw request line keeps the dot segment as it is.
    const raw = await rawRequest(
      `PUT ${base}/.. HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 14\r\nconnection: close\r\n\r\n{"entries":{}}`,
    )
    expect(raw).toStartWith("HTTP/1.1 400")
  })

  test("ids from paths that are not valid UTF-8 are refused, not turned into U+FFFD", async () => {
    for (const id of ["%FF", "a%C3", "%ED%A0%80"]) {
      const r = await api.put(`${base}/${id}`, { entries: {} })
      expect([id, r.status]).toEqual([id, 400])
    }
    expect(
      (await api.get(`/api/class/${cls}/-/objects?limit=1000`)).json.objects.some((o: { id: string }) =>
        o.id.includes("\ufffd")
      ),
    ).toBe(false)
  })

  test("NUL and control characters in entry key names are 400, over REST and RPC", async () => {
    for (const key of ["a\u0000b", "bell\u0007", "del\u007f", "line\nbreak"]) {
      const r = await api.put(`${base}/keys`, { entries: { [key]: 1 } })
      expect(r.status).toBe(400)
      expect(r.json.error.violations[0].message).toContain("is not an entry key")
    }
    const { objects } = rpcClient()
    const e = await objects.putObject({ cls, id: "keys", entries: { "a\u0000b": valueToProto(1) } }).catch((x) => x)
    expect(codeOf(e)).toBe(Code.InvalidArgument)
    const m = await objects.mergeObject({ cls, id: "keys", deleteKeys: ["x\u0001"] }).catch((x) => x)
    expect(codeOf(m)).toBe(Code.InvalidArgument)
    expect((await api.get(`${base}/keys`)).status).toBe(404)
  })
})

describe("bounded work per request", () => {
  test("a collection with 1 M bad triggers: 400 fast, with a small body", async () => {
    const body = JSON.stringify({ functions: {}, triggers: Array.from({ length: 1_000_000 }, () => ({})) })
    expect(body.length).toBeLessThan(4 * 1024 * 1024)
    const t = performance.now()
    const res = await fetch(`${odgm.url}/api/collections/valid.Bomb`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body,
    })
    const text = await res.text()
    const ms = performance.now() - t
    expect(res.status).toBe(400)
    expect(text.length).toBeLessThan(1024)
    expect(JSON.parse(text).error.violations).toEqual([{
      path: "triggers",
      message: "has 1000000 items; at most 256 are allowed",
    }])
    expect(ms).toBeLessThan(1000 * slowdown()) // ~100 ms on a quiet machine; 111 MB and seconds before
  })

  test("an object with more entries than limits.maxEntries is 400", async () => {
    const entries = Object.fromEntries(Array.from({ length: 1025 }, (_, i) => [`k${i}`, i]))
    const r = await api.put(`${base}/wide`, { entries })
    expect(r.status).toBe(400)
    expect(r.json.error.violations).toEqual([{
      path: "entries",
      message: "has 1025 entries; at most 1024 are allowed",
    }])
  })
})

const rawRequest = async (request: string): Promise<string> => {
  const { port, hostname } = new URL(odgm.url)
  return await new Promise<string>((resolve, reject) => {
    let out = ""
    Bun.connect({
      hostname,
      port: Number(port),
      socket: {
        open: (s) => void s.write(request),
        data: (_s, d) => void (out += new TextDecoder().decode(d)),
        close: () => resolve(out),
        error: (_s, e) => reject(e),
      },
    }).catch(reject)
  })
}
