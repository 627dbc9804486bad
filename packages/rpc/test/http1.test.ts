import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import * as net from "node:net"
import { create, toBinary } from "@bufbuild/protobuf"
import { Effect } from "effect"
import { functionv1 } from "@oprc/proto"
import { json, route, rpcService, serve, startServer } from "../src"
import { headFacts, makeFramer } from "../src/server/http1Frames"
import { testServer } from "./fixture"
import { leaveMidCall } from "@oprc/test-harness"

// The HTTP/1.1 side of the one-port server (the front -> Bun.serve): the front's own view of
// the messages (timers, pipelining), the direct Connect path, and the answer cache.

const rawExchange = (port: number, bytes: string, until: (text: string) => boolean) =>
  new Promise<string>((resolve, reject) => {
    let text = ""
    const socket = net.connect(port, "127.0.0.1", () => socket.write(bytes))
    socket.on("data", (d) => {
      text += d.toString("latin1")
      if (until(text)) {
        socket.destroy()
        resolve(text)
      }
    })
    socket.on("error", reject)
    socket.on("close", () => resolve(text))
  })

describe("framing (the front's view of HTTP/1.1)", () => {
  const follow = () => {
    const seen: Array<string> = []
    const framer = makeFramer({
      onHead: (head) => {
        seen.push(head.split("\r\n")[0]!)
        const length = /content-length: *(\d+)/i.exec(head)?.[1]
        if (/transfer-encoding: *chunked/i.test(head)) return { kind: "chunked" }
        return length === undefined ? { kind: "none" } : { kind: "length", bytes: Number(length) }
      },
      onEnd: () => void seen.push("end"),
      onLost: () => void seen.push("lost"),
    })
    return { seen, feed: (s: string) => framer.feed(Buffer.from(s, "latin1")), framer }
  }

  test("pipelined requests, heads and bodies split anywhere, are followed message by message", () => {
    const f = follow()
    const wire = "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nhost: x\r\n\r\n" +
      "POST /c HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nt: v\r\n\r\n"
    // Byte by byte: every split point at once.
    for (const c of wire) f.feed(c)
    expect(f.seen).toEqual(["post /a http/1.1", "end", "get /b http/1.1", "end", "post /c http/1.1", "end"])
    expect(f.framer.atBoundary()).toBe(true)
  })

  test("framing headers are found in any case, with odd spacing; others do not count", () => {
    const facts = (head: string) => headFacts(head.toLowerCase())
    expect(facts("POST / HTTP/1.1\r\nCONTENT-LENGTH:  12 \r\nExpect: 100-Continue")).toEqual({
      body: { kind: "length", bytes: 12 },
      expectContinue: true,
    })
    expect(facts("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\ncontent-length: 5").body).toEqual({
      kind: "chunked",
    })
    expect(facts("GET / HTTP/1.1\r\nx-content-length: 5\r\nexpect: 100-continued").body).toEqual({ kind: "none" })
    expect(facts("GET / HTTP/1.1\r\nx-content-length: 5\r\nexpect: 100-continued").expectContinue).toBe(false)
    expect(facts("POST / HTTP/1.1\r\ncontent-length: 1e3").body).toEqual({ kind: "none" })
  })

  test("a head that never ends is lost past 64 KiB; a bad chunk size is lost", () => {
    const big = follow()
    big.feed(`GET / HTTP/1.1\r\nx: ${"a".repeat(70 * 1024)}`)
    expect(big.seen).toEqual(["lost"])
    const bad = follow()
    bad.feed("POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n")
    expect(bad.seen).toEqual(["post / http/1.1", "lost"])
  })
})

describe("the HTTP/1.1 server", () => {
  let server: Awaited<ReturnType<typeof startServer>>
  beforeAll(async () => {
    server = await startServer(testServer({ calls: 0 }, { idleTimeoutMs: 300, headersTimeoutMs: 2000 }))
  })
  afterAll(() => server.stop())

  const invokeBody = (o: unknown) =>
    JSON.stringify({ cls: "c", payload: Buffer.from(JSON.stringify(o)).toString("base64") })

  test("a request answered after the idle timeout is not cut (idle counts only between requests)", async () => {
    const body = invokeBody({ do: "sleep", ms: 900 })
    const text = await rawExchange(
      server.port,
      `POST /oprc.function.v1.FunctionService/Invoke HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      (t) => t.includes("INVOCATION_STATUS_OK"),
    )
    expect(text).toStartWith("HTTP/1.1 200")
  })

  test("pipelined requests on one connection are all answered, in order", async () => {
    const one = "GET /api/echo/a HTTP/1.1\r\nhost: x\r\n\r\n"
    const two = "POST /api/echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
    const text = await rawExchange(server.port, one + two + one, (t) => t.split("HTTP/1.1 ").length === 4)
    expect(text.match(/HTTP\/1\.1 \d+/g)).toEqual(["HTTP/1.1 200", "HTTP/1.1 201", "HTTP/1.1 200"])
  })

  // The front answers the plain common case itself (frontLocal.ts) and passes the connection on
  // to Bun.serve at the first request it does not serve; these cross that line on purpose.
  const invoke = (o: unknown, extra = "") => {
    const body = invokeBody(o)
    return `POST /oprc.function.v1.FunctionService/Invoke HTTP/1.1\r\nhost: x\r\n${extra}` +
      `content-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`
  }
  const answers = (t: string) => t.split("HTTP/1.1 ").length - 1

  test("answers from the front and from Bun.serve on one connection stay in request order", async () => {
    const slow = invoke({ do: "sleep", ms: 150, n: 1 })
    const metrics = "GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n"
    const after = invoke({ n: 3 })
    const text = await rawExchange(server.port, slow + metrics + after, (t) => answers(t) === 3 && t.endsWith("}"))
    const first = text.indexOf(Buffer.from(JSON.stringify({ do: "sleep", ms: 150, n: 1 })).toString("base64"))
    const second = text.indexOf("# HELP")
    const third = text.indexOf(Buffer.from(JSON.stringify({ n: 3 })).toString("base64"))
    expect(first).toBeGreaterThan(0)
    expect(second).toBeGreaterThan(first)
    expect(third).toBeGreaterThan(second)
  })

  test("a request sent a byte at a time is answered; the answer has its length and a Date", async () => {
    const wire = invoke({ n: "bytes" })
    const text = await new Promise<string>((resolve, reject) => {
      let got = ""
      const socket = net.connect(server.port, "127.0.0.1", async () => {
        for (const c of wire) {
          socket.write(c)
          await Bun.sleep(0)
        }
      })
      socket.on("data", (d) => {
        got += d.toString("latin1")
        if (got.includes("INVOCATION_STATUS_OK")) {
          socket.destroy()
          resolve(got)
        }
      })
      socket.on("error", reject)
    })
    expect(text).toStartWith("HTTP/1.1 200 OK\r\n")
    const [head, body] = text.split("\r\n\r\n")
    expect(head).toMatch(/\r\ndate: \w{3}, \d{2} \w{3} \d{4} /)
    expect(head).toContain(`content-length: ${Buffer.byteLength(body!)}`)
  })

  test("connection: close is answered with connection: close, then the connection ends", async () => {
    const text = await rawExchange(
      server.port,
      invoke({ n: 1 }, "connection: close\r\n") + invoke({ n: 2 }),
      () => false,
    )
    expect(answers(text)).toBe(1)
    expect(text.toLowerCase()).toContain("\r\nconnection: close\r\n")
  })

  test("heads that are not the plain case (bare LF, two Hosts, HTTP/1.0) are Bun.serve's to answer", async () => {
    const bareLf = "POST /api/echo HTTP/1.1\r\nhost: x\nx-a: 1\r\ncontent-type: application/json\r\n" +
      "content-length: 2\r\n\r\n{}"
    const twoHosts = "GET /healthz HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n"
    const http10 = "GET /healthz HTTP/1.0\r\nhost: a\r\n\r\n"
    for (const wire of [bareLf, twoHosts, http10]) {
      const text = await rawExchange(server.port, wire, (t) => t.includes("\r\n\r\n"))
      // The front always writes a lower-case "date:"; Bun.serve capitalises its header names.
      expect(text).toMatch(/^HTTP\/1\.[01] \d{3} /)
      expect(text).not.toStartWith("HTTP/1.1 500")
      expect(text).not.toContain("\r\ndate: ")
    }
  })

  test("the front and Bun.serve hand a handler the same request (random heads, paths, queries, bodies)", async () => {
    // Each request goes once on a new connection (the front serves it) and once after a
    // /metrics request on the same connection (from then on Bun.serve serves it); the two
    // answers must be the same. A seeded generator keeps a failure reproducible.
    let seed = 20261201
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % n
    }
    const pick = <T>(xs: ReadonlyArray<T>): T => xs[rand(xs.length)]!
    const chars = "abcXYZ019-._~!$&'()*+,;=:@"
    const hex = "0123456789abcdefABCDEF"
    const piece = (n: number, extra = "") => {
      let out = ""
      for (let i = 0; i < n; i++) {
        out += rand(6) === 0 ? `%${pick([..."0123456789abcdef"])}${pick([...hex])}` : pick([...chars + extra])
      }
      return out
    }
    const answer = (text: string) => {
      const end = text.indexOf("\r\n\r\n")
      const head = text.slice(0, end)
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? "0")
      return { head, body: text.slice(end + 4, end + 4 + length), rest: text.slice(end + 4 + length) }
    }
    const whole = (text: string, count: number) => {
      let at = text
      for (let i = 0; i < count; i++) {
        const end = at.indexOf("\r\n\r\n")
        if (end === -1) return false
        const a = answer(at)
        if (a.body.length < Number(/\r\ncontent-length: *(\d+)/i.exec(a.head)?.[1] ?? "0")) return false
        at = a.rest
      }
      return true
    }
    const metrics = "GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n"
    let local = 0
    for (let i = 0; i < 120; i++) {
      const body = pick(["", "{}", `{"a":${rand(100)}}`, piece(rand(30), " \"{}")])
      const headers = [
        `${pick(["host", "Host", "HOST"])}:${pick(["", " ", "\t"])}x${pick(["", " ", "\t "])}`,
        `${pick(["content-type", "Content-Type"])}: ${
          pick(["application/json", "text/plain", "APPLICATION/JSON; charset=utf-8", "application/x-yaml"])
        }`,
        ...(rand(2) === 0 ? [`X-Test: ${pick(["", " a ", "b\tc", piece(8)])}`] : []),
        ...(rand(3) === 0 ? ["x-dup: 1", `X-Dup: ${piece(3)}`] : []),
        `content-length: ${Buffer.byteLength(body)}`,
      ]
      const query = rand(2) === 0 ? "" : `?q=${piece(rand(10), "+?/")}${rand(3) === 0 ? `&q=${piece(3)}` : ""}`
      const wire = `POST /api/mirror/${piece(1 + rand(10))}${query} HTTP/1.1\r\n${
        headers.sort(() => rand(3) - 1).join("\r\n")
      }\r\n\r\n${body}`
      const front = answer(await rawExchange(server.port, wire, (t) => whole(t, 1)))
      const spliced = answer(answer(await rawExchange(server.port, metrics + wire, (t) => whole(t, 2))).rest)
      const served = (h: string) => h.includes("\r\ndate: ") ? "front" : "bun"
      if (served(front.head) === "front") local++
      expect(served(spliced.head)).toBe("bun")
      const status = (h: string) => h.slice(0, 12)
      expect({ wire, status: status(front.head), body: front.body }).toEqual({
        wire,
        status: status(spliced.head),
        body: spliced.body,
      })
    }
    // Most of them must have been served by the front, or nothing was compared.
    expect(local).toBeGreaterThan(80)

    // Unary Connect: header spellings the direct path must read as Bun.serve's Headers do.
    let localConnect = 0
    for (let i = 0; i < 60; i++) {
      const body = pick([
        invokeBody({ n: i }),
        `{"cls":"c","payload":"${Buffer.from(piece(5)).toString("base64")}"}`,
        `{"clz":"c"}`,
        "{",
      ])
      const headers = [
        "host: x",
        `${pick(["content-type", "Content-Type"])}: ${
          pick(["application/json", "Application/JSON; charset=utf-8", "application/proto", "text/plain"])
        }`,
        ...(rand(2) === 0
          ? [`${pick(["connect-protocol-version", "Connect-Protocol-Version"])}: ${pick(["1", "2"])}`]
          : []),
        ...(rand(3) === 0 ? [`connect-timeout-ms: ${pick(["5000", "x", "99999999999"])}`] : []),
        ...(rand(4) === 0 ? [`content-encoding: ${pick(["identity", "gzip"])}`] : []),
        `content-length: ${Buffer.byteLength(body)}`,
      ]
      const wire = `POST /oprc.function.v1.FunctionService/Invoke HTTP/1.1\r\n${
        headers.sort(() => rand(3) - 1).join("\r\n")
      }\r\n\r\n${body}`
      const front = answer(await rawExchange(server.port, wire, (t) => whole(t, 1)))
      const spliced = answer(answer(await rawExchange(server.port, metrics + wire, (t) => whole(t, 2))).rest)
      if (front.head.includes("\r\ndate: ")) localConnect++
      expect({ wire, status: front.head.slice(0, 12), body: front.body }).toEqual({
        wire,
        status: spliced.head.slice(0, 12),
        body: spliced.body,
      })
    }
    expect(localConnect).toBeGreaterThan(20)
  })

  test("a refusal pipelined behind a request Bun.serve answers is still written, after that answer", async () => {
    const metrics = "GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n"
    const dotted = "GET /api/echo/a/../b HTTP/1.1\r\nhost: x\r\n\r\n"
    const text = await rawExchange(server.port, metrics + dotted, (t) => answers(t) === 2 && t.endsWith("}}"))
    expect(text.match(/HTTP\/1\.1 \d+/g)).toEqual(["HTTP/1.1 200", "HTTP/1.1 400"])
  })

  test("chunked and large bodies are passed on to Bun.serve and answered there", async () => {
    const chunked = "POST /api/echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n" +
      "transfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    // 64 KiB: the local path's limit, and this server's body limit.
    const big = JSON.stringify({ pad: "x".repeat(65_536 - 10) })
    expect(big.length).toBe(65_536)
    const large = "POST /api/echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n" +
      `content-length: ${big.length}\r\n\r\n${big}`
    const text = await rawExchange(server.port, invoke({ n: 0 }) + chunked + large, (t) => answers(t) === 3)
    expect(text.match(/HTTP\/1\.1 \d+/g)).toEqual(["HTTP/1.1 200", "HTTP/1.1 201", "HTTP/1.1 201"])
    expect(text).toContain(`{"size":${big.length}}`)
  })

  test("a client that leaves during a call served on the front interrupts the call", async () => {
    const { before, after } = await leaveMidCall({
      host: "127.0.0.1",
      port: server.port,
      request: invoke({ do: "sleep", ms: 5000 }),
      metricsUrl: `${server.url}/metrics`,
      pattern: /oprc_rpc_requests_total\{[^}]*method="Invoke",code="canceled"\} (\d+)/,
      leaveAfterMs: 200,
      withinMs: 3000,
    })
    expect(after).toBe(before + 1)
  })

  test("a client that leaves during a REST call served on the front interrupts the call", async () => {
    const { before, after } = await leaveMidCall({
      host: "127.0.0.1",
      port: server.port,
      request: "GET /api/sleep/5000 HTTP/1.1\r\nhost: x\r\n\r\n",
      metricsUrl: `${server.url}/metrics`,
      pattern: /oprc_http_requests_total\{[^}]*route="\/api\/sleep\/:ms"[^}]*status="499"\} (\d+)/,
      leaveAfterMs: 200,
      withinMs: 3000,
    })
    expect(after).toBe(before + 1)
  })

  test("a Connect call's deadline ends a call that waits, and a call answered in time is not cut", async () => {
    const inTime = await fetch(`${server.url}/oprc.function.v1.FunctionService/Invoke`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-timeout-ms": "2000" },
      body: invokeBody({ do: "sleep", ms: 50 }),
    })
    expect(inTime.status).toBe(200)
    const late = await fetch(`${server.url}/oprc.function.v1.FunctionService/Invoke`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-timeout-ms": "1" },
      body: invokeBody({ do: "sleep", ms: 500 }),
    })
    expect(late.status).toBe(504)
  })

  test("connect-timeout-ms bounds a direct Connect call: deadline_exceeded", async () => {
    const r = await fetch(`${server.url}/oprc.function.v1.FunctionService/Invoke`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-timeout-ms": "100" },
      body: invokeBody({ do: "sleep", ms: 2000 }),
    })
    expect(r.status).toBe(504)
    expect(((await r.json()) as { code: string }).code).toBe("deadline_exceeded")
  })
})

describe("answer cache", () => {
  test("the same returned object is encoded once (JSON and binary); handlers treat it as immutable", async () => {
    const shared = create(functionv1.InvokeResponseSchema, { status: functionv1.InvocationStatus.OK })
    const restBody = { n: 1 }
    const layer = serve(
      { name: "t", version: "0", host: "127.0.0.1", port: 0, bodyLimitBytes: 1 << 20, shutdownGraceMs: 100 },
      {
        rpc: [rpcService(functionv1.FunctionService, Effect.succeed({ invoke: () => Effect.succeed(shared) }))],
        rest: [route("GET", "/api/shared", () => Effect.succeed(json(200, restBody)))],
      },
    )
    const server = await startServer(layer)
    try {
      const call = (type: string, body: string | Uint8Array) =>
        fetch(`${server.url}/oprc.function.v1.FunctionService/Invoke`, {
          method: "POST",
          headers: { "content-type": type },
          body,
        }).then(async (r) => new Uint8Array(await r.arrayBuffer()))
      const proto = toBinary(functionv1.InvokeRequestSchema, create(functionv1.InvokeRequestSchema, { cls: "c" }))
      const firstJson = await call("application/json", "{}")
      const firstProto = await call("application/proto", proto)
      const firstRest = await (await fetch(`${server.url}/api/shared`)).text()
      // Changing a returned object breaks the contract: the bytes encoded first are what is served.
      shared.error = "changed"
      restBody.n = 2
      expect(await call("application/json", "{}")).toEqual(firstJson)
      expect(await call("application/proto", proto)).toEqual(firstProto)
      expect(await (await fetch(`${server.url}/api/shared`)).text()).toBe(firstRest)
      expect(new TextDecoder().decode(firstJson)).toBe("{\"status\":\"INVOCATION_STATUS_OK\"}")
    } finally {
      await server.stop()
    }
  })
})

describe("whole answers kept for large reused bytes", () => {
  test("the same large answer is sent again whole, with a fresh Date and its own connection: close", async () => {
    // 20 KB of output: above the size from which the front keeps the whole HTTP answer.
    const big = create(functionv1.InvokeResponseSchema, {
      status: functionv1.InvocationStatus.OK,
      output: new Uint8Array(20 * 1024).fill(65),
    })
    const layer = serve(
      { name: "t", version: "0", host: "127.0.0.1", port: 0, bodyLimitBytes: 1 << 20, shutdownGraceMs: 100 },
      { rpc: [rpcService(functionv1.FunctionService, Effect.succeed({ invoke: () => Effect.succeed(big) }))] },
    )
    const server = await startServer(layer)
    try {
      const port = server.port
      /** True once `n` whole answers (heads with their content-length bodies) are in `t`. */
      const complete = (n: number) => (t: string) => {
        let at = 0
        for (let i = 0; i < n; i++) {
          const end = t.indexOf("\r\n\r\n", at)
          const length = end < 0 ? undefined : /content-length: (\d+)/i.exec(t.slice(at, end))?.[1]
          if (length === undefined) return false
          at = end + 4 + Number(length)
          if (t.length < at) return false
        }
        return true
      }
      const ask = (close: boolean) =>
        `POST /oprc.function.v1.FunctionService/Invoke HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\n${
          close ? "connection: close\r\n" : ""
        }\r\n{}`
      const answers = async (requests: ReadonlyArray<string>) => {
        const text = await rawExchange(port, requests.join(""), complete(requests.length))
        return text.split(/(?=HTTP\/1\.1 )/)
      }
      const [a, b] = await answers([ask(false), ask(false)])
      expect(a).toBe(b) // the second is the first again, byte for byte
      const date = (t: string) => /\r\ndate: ([^\r]+)/.exec(t)?.[1]
      const body = (t: string) => t.slice(t.indexOf("\r\n\r\n") + 4)
      await Bun.sleep(1100)
      const [c, d] = await answers([ask(false), ask(true)])
      expect(date(c!)).not.toBe(date(a!))
      expect(body(c!)).toBe(body(a!))
      expect(d).toContain("\r\nconnection: close\r\n")
      expect(c).not.toContain("connection: close")
      expect(body(d!)).toBe(body(a!))
      expect(JSON.parse(body(a!)).output).toBe(Buffer.from(big.output).toString("base64"))
    } finally {
      await server.stop()
    }
  })
})

describe("paths Bun.serve would resolve", () => {
  test("'.' and '..' segments (also %2e, backslashes) are 400, not silently resolved; dotted names pass", async () => {
    const server = await startServer(testServer({ calls: 0 }))
    try {
      for (const path of ["/api/echo/..", "/api/echo/a/../b", "/api/echo/.%2E", "/api/echo/%2e", "/api\\echo\\..\\x"]) {
        const text = await rawExchange(server.port, `GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`, (t) => t.includes("}"))
        expect([path, text.slice(0, 12)]).toEqual([path, "HTTP/1.1 400"])
        expect(text).toContain("invalid_argument")
      }
      const ok = await rawExchange(
        server.port,
        "GET /api/echo/a.b?q=/../ HTTP/1.1\r\nhost: x\r\n\r\n",
        (t) => t.includes("}"),
      )
      expect(ok).toStartWith("HTTP/1.1 200")
      expect(ok).toContain("\"name\":\"a.b\"")
    } finally {
      await server.stop()
    }
  })
})
