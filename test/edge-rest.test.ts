import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { spawnService } from "./edge-support"

// Issue 7, observations 2, 4 and 8 on the REST edge of real PM and ODGM processes: deep and
// invalid-UTF-8 bodies are 400 (not 500, not U+FFFD), error bodies stay small, one content-type
// rule on both servers, and a client that leaves is not an ERROR line in the log.

setDefaultTimeout(30_000)
let pm: Awaited<ReturnType<typeof spawnService>>
let odgm: Awaited<ReturnType<typeof spawnService>>
beforeAll(async () => {
  ;[pm, odgm] = await Promise.all([
    spawnService("pm", { OPRC_TELEMETRY_LOG_LEVEL: "debug" }),
    spawnService("odgm", { OPRC_TELEMETRY_LOG_LEVEL: "debug" }),
  ])
  const apply = await fetch(`${odgm.url}/api/collections/edge.T`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "edge.T", functions: {} }),
  })
  expect(apply.status).toBe(200)
})
afterAll(async () => {
  await Promise.all([pm?.proc.stop(), odgm?.proc.stop()])
})

const edges = () => [
  { name: "PM POST /api/v1/packages", url: `${pm.url}/api/v1/packages`, method: "POST" },
  { name: "ODGM PUT object", url: `${odgm.url}/api/class/edge.T/0/objects/o1`, method: "PUT" },
]

const send = (e: { url: string; method: string }, body: string | Uint8Array, type = "application/json") =>
  fetch(e.url, { method: e.method, headers: { "content-type": type }, body })

describe("bad bodies are 400 with a reason", () => {
  test("JSON nested 100 k deep", async () => {
    for (const e of edges()) {
      const r = await send(e, `{"a":${"[".repeat(100_000)}${"]".repeat(100_000)}}`)
      const text = await r.text()
      expect({ edge: e.name, status: r.status }).toEqual({ edge: e.name, status: 400 })
      expect(text).toContain("nested deeper than 32 levels")
    }
  })

  test("more values than server.maxJsonValues are refused before parsing", async () => {
    const r = await send(edges()[1]!, `{"entries":{"a":[${Array(1_500_000).fill("1").join(",")}]}}`)
    expect(r.status).toBe(400)
    expect(await r.text()).toContain("more than 1000000 values")
  })

  test("invalid UTF-8 is refused, not turned into U+FFFD", async () => {
    const body = new Uint8Array([
      ...new TextEncoder().encode("{\"name\":\"x"),
      0xc3,
      0x28,
      ...new TextEncoder().encode("\"}"),
    ])
    for (const e of edges()) {
      const r = await send(e, body)
      expect({ edge: e.name, status: r.status }).toEqual({ edge: e.name, status: 400 })
      expect(await r.text()).toContain("not valid UTF-8")
    }
  })

  test("an error body stays bounded whatever the input", async () => {
    const classes = Array.from({ length: 20_000 }, (_, i) => ({ key: `bad key ${i}` }))
    const r = await send(edges()[0]!, JSON.stringify({ name: "edge-big", version: "1.0.0", classes }))
    const text = await r.text()
    expect(r.status).toBe(400)
    expect(text.length).toBeLessThan(64 * 1024)
  })
})

describe("one content-type rule on PM and ODGM", () => {
  test("curl's default form type is read as JSON on both", async () => {
    const pkg = await send(
      edges()[0]!,
      JSON.stringify({ name: "edge-form", version: "1.0.0" }),
      "application/x-www-form-urlencoded",
    )
    expect(pkg.status).toBe(201)
    const obj = await send(edges()[1]!, JSON.stringify({ entries: { a: 1 } }), "application/x-www-form-urlencoded")
    expect(obj.status).toBe(201)
  })

  test("other types are 415 naming the accepted ones, on both", async () => {
    const deployments = { name: "PM POST /api/v1/deployments", url: `${pm.url}/api/v1/deployments`, method: "POST" }
    for (const e of [deployments, edges()[1]!]) {
      const r = await send(e, "{}", "text/plain")
      expect({ edge: e.name, status: r.status }).toEqual({ edge: e.name, status: 415 })
      expect(await r.text()).toContain("application/json")
    }
  })
})

describe("client disconnects", () => {
  test("a client leaving mid-stream is logged at debug, not error", async () => {
    for (const s of [pm, odgm]) {
      const abort = new AbortController()
      const res = await fetch(`${s.url}/grpc.health.v1.Health/Watch`, {
        method: "POST",
        headers: { "content-type": "application/connect+json" },
        body: new Uint8Array([0, 0, 0, 0, 2, 0x7b, 0x7d]),
        signal: abort.signal,
      })
      const reader = res.body!.getReader()
      await reader.read()
      abort.abort()
      await Bun.sleep(1500)
      const errors = s.proc.logTail(200).split("\n").filter((l) =>
        /"level":"(ERROR|FATAL)"|handler for rpc .* failed/i.test(l)
      )
      expect(errors).toEqual([])
    }
  })
})
