// The pooled HTTP/1.1 client against real servers on loopback: Bun.serve for the common replies,
// raw Bun.listen servers for the framings and failures a server can produce.
import { afterAll, describe, expect, test } from "bun:test"
import { dlopen, FFIType, ptr } from "bun:ffi"
import { Http1Error, Http1Pool } from "../src"

const target = (port: number) => ({ hostname: "127.0.0.1", port })
const bytes = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)
const opts = { timeoutMs: 5000 }

/** A Bun.serve echo that records the client ports it saw. */
const echo = () => {
  const ports = new Set<number>()
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req, srv) {
      ports.add(srv.requestIP(req)!.port)
      const body = new Uint8Array(await req.arrayBuffer())
      return new Response(body, {
        status: Number(req.headers.get("x-status") ?? 200),
        headers: { "x-echo": req.headers.get("x-echo") ?? "", "x-length": String(body.length) },
      })
    },
  })
  return { server, ports, port: server.port! }
}

/** A raw TCP server: `onRequest` gets each connection's bytes and answers by hand. */
const raw = (onData: (socket: Bun.Socket<{ seen: string }>, seen: string) => void) => {
  const closed: Array<number> = []
  let opened = 0
  const server = Bun.listen<{ seen: string }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open: (s) => {
        opened++
        s.data = { seen: "" }
      },
      data: (s, d) => {
        s.data.seen += d.toString("latin1")
        onData(s, s.data.seen)
      },
      close: () => {
        closed.push(Date.now())
      },
    },
  })
  return { server, port: server.port, opened: () => opened, closed }
}

/** True once a whole request (head + Content-Length body) is in `seen`; then `seen` is reset. */
const wholeRequest = (s: Bun.Socket<{ seen: string }>): boolean => {
  const end = s.data.seen.indexOf("\r\n\r\n")
  if (end < 0) return false
  const length = Number(/content-length: (\d+)/i.exec(s.data.seen.slice(0, end))?.[1] ?? 0)
  if (s.data.seen.length < end + 4 + length) return false
  s.data.seen = s.data.seen.slice(end + 4 + length)
  return true
}

/**
 * A port whose SYNs go unanswered, as a host that is gone or cut off: a socket that listens with
 * a backlog of 0 and never accepts (through libc, since Bun's and Node's servers always accept).
 * Once one connection fills the queue, the kernel drops further SYNs and the connects hang.
 */
const unanswered = async () => {
  const libc = dlopen("libc.so.6", {
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    listen: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    getsockname: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
  })
  const AF_INET = 2, SOCK_STREAM = 1
  const fd = libc.symbols.socket(AF_INET, SOCK_STREAM, 0)
  const address = new Uint8Array(16) // sockaddr_in: family, port (big-endian), 127.0.0.1
  const view = new DataView(address.buffer)
  view.setUint16(0, AF_INET, true)
  address.set([127, 0, 0, 1], 4)
  if (fd < 0 || libc.symbols.bind(fd, ptr(address), 16) !== 0 || libc.symbols.listen(fd, 0) !== 0) {
    throw new Error("cannot make a listening socket through libc")
  }
  libc.symbols.getsockname(fd, ptr(address), ptr(new Uint32Array([16])))
  const port = view.getUint16(2, false)
  // The one connection the queue takes: after it, SYNs are dropped.
  const filler = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } })
  return {
    port,
    close: () => {
      filler.terminate()
      libc.symbols.close(fd)
      libc.close()
    },
  }
}

const pools: Array<Http1Pool> = []
const pool = (o?: ConstructorParameters<typeof Http1Pool>[0]) => {
  const p = new Http1Pool(o)
  pools.push(p)
  return p
}
afterAll(() => pools.forEach((p) => p.close()))

describe("Http1Pool", () => {
  test("replies come back whole, and sequential requests reuse one connection", async () => {
    const e = echo()
    const p = pool()
    for (let i = 0; i < 200; i++) {
      const r = await p.post(
        target(e.port),
        "/x",
        { "x-echo": `n${i}`, "content-type": "application/proto" },
        bytes(`body ${i}`),
        opts,
      )
      expect(r.status).toBe(200)
      expect(r.headers["x-echo"]).toBe(`n${i}`)
      expect(text(r.body)).toBe(`body ${i}`)
    }
    expect(e.ports.size).toBe(1)
    const notOk = await p.post(target(e.port), "/x", { "x-status": "503" }, bytes("no"), opts)
    expect(notOk.status).toBe(503)
    e.server.stop(true)
  })

  test("concurrent requests open at most maxConnectionsPerOrigin connections and wait in order", async () => {
    const e = echo()
    const p = pool({ maxConnectionsPerOrigin: 4 })
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) => p.post(target(e.port), "/x", {}, bytes(`c${i}`), opts)),
    )
    expect(replies.map((r) => text(r.body))).toEqual(Array.from({ length: 200 }, (_, i) => `c${i}`))
    expect(e.ports.size).toBeLessThanOrEqual(4)
    e.server.stop(true)
  })

  test("a request body of 8 MB goes out through partial writes and a 6 MB streamed (chunked) reply comes back", async () => {
    const big = new Uint8Array(8 * 1024 * 1024).map((_, i) => i % 251)
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(req) {
        const got = new Uint8Array(await req.arrayBuffer())
        let sum = 0
        for (let i = 0; i < got.length; i += 4096) sum += got[i]!
        const piece = new Uint8Array(64 * 1024).fill(7)
        let left = 96
        // A ReadableStream body: Bun.serve answers it with Transfer-Encoding: chunked.
        const stream = new ReadableStream({
          pull(c) {
            if (left-- === 0) return c.close()
            c.enqueue(piece)
          },
        })
        return new Response(stream, { headers: { "x-length": String(got.length), "x-sum": String(sum) } })
      },
    })
    const r = await pool().post(target(server.port!), "/big", {}, big, { timeoutMs: 20_000 })
    expect(r.headers["transfer-encoding"]).toBe("chunked")
    expect(r.headers["x-length"]).toBe(String(big.length))
    let sum = 0
    for (let i = 0; i < big.length; i += 4096) sum += big[i]!
    expect(r.headers["x-sum"]).toBe(String(sum))
    expect(r.body.length).toBe(96 * 64 * 1024)
    expect(r.body.every((b) => b === 7)).toBe(true)
    server.stop(true)
  })

  test("chunked framing with extensions and trailers, delivered a byte at a time, then the connection is reused", async () => {
    const reply = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" +
      "5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nx-trailer: t\r\n\r\n"
    const s = raw((socket) => {
      if (!wholeRequest(socket)) return
      let i = 0
      const drip = () => {
        if (i >= reply.length) return
        socket.write(reply[i++]!)
        setTimeout(drip, 0)
      }
      drip()
    })
    const p = pool()
    for (let n = 0; n < 2; n++) {
      const r = await p.post(target(s.port), "/c", {}, bytes("x"), opts)
      expect(text(r.body)).toBe("hello 0123456789")
    }
    expect(s.opened()).toBe(1)
    s.server.stop(true)
  })

  test("a reply without length is read until the server closes; `connection: close` is not reused", async () => {
    const s = raw((socket) => {
      if (!wholeRequest(socket)) return
      if (socket.data.seen === "" && s.opened() === 1) {
        socket.write("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end")
        socket.end()
      } else {
        socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
      }
    })
    const p = pool()
    expect(text((await p.post(target(s.port), "/a", {}, bytes("1"), opts)).body)).toBe("until the end")
    expect(text((await p.post(target(s.port), "/b", {}, bytes("2"), opts)).body)).toBe("ok")
    expect(text((await p.post(target(s.port), "/c", {}, bytes("3"), opts)).body)).toBe("ok")
    expect(s.opened()).toBe(3)
    s.server.stop(true)
  })

  test("interim 100 and 103 answers are skipped", async () => {
    const s = raw((socket) => {
      if (!wholeRequest(socket)) return
      socket.write("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n")
      socket.write("HTTP/1.1 201 Created\r\ncontent-length: 4\r\n\r\ndone")
    })
    const r = await pool().post(target(s.port), "/x", {}, bytes("x"), opts)
    expect(r.status).toBe(201)
    expect(text(r.body)).toBe("done")
    expect(r.headers["link"]).toBeUndefined()
    s.server.stop(true)
  })

  test("a server that does not answer fails the request at its deadline and loses the connection", async () => {
    const s = raw(() => {})
    const started = Date.now()
    const err = await pool().post(target(s.port), "/x", {}, bytes("x"), { timeoutMs: 200 }).catch((e) => e)
    expect(err).toBeInstanceOf(DOMException)
    expect((err as DOMException).name).toBe("TimeoutError")
    expect(Date.now() - started).toBeLessThan(2000)
    for (let i = 0; i < 50 && s.closed.length === 0; i++) await Bun.sleep(10)
    expect(s.closed.length).toBe(1)
    s.server.stop(true)
  })

  test("the caller's abort signal fails the request with its reason", async () => {
    const s = raw(() => {})
    const ac = new AbortController()
    const pending = pool().post(target(s.port), "/x", {}, bytes("x"), { timeoutMs: 5000, signal: ac.signal })
    setTimeout(() => ac.abort(new Error("caller left")), 50)
    expect((await pending.catch((e) => e)).message).toBe("caller left")
    const already = new AbortController()
    already.abort(new Error("before"))
    expect(
      (await pool().post(target(s.port), "/x", {}, bytes("x"), { timeoutMs: 5000, signal: already.signal }).catch((e) =>
        e
      )).message,
    ).toBe("before")
    s.server.stop(true)
  })

  test("the cancel given to onCancel fails the request at once and loses its connection", async () => {
    const s = raw(() => {})
    let cancel: ((reason?: unknown) => void) | undefined
    const pending = pool().post(target(s.port), "/x", {}, bytes("x"), {
      timeoutMs: 5000,
      onCancel: (c) => {
        cancel = c
      },
    })
    expect(cancel).toBeDefined()
    setTimeout(() => cancel!(new Error("interrupted")), 50)
    const started = Date.now()
    expect((await pending.catch((e) => e)).message).toBe("interrupted")
    expect(Date.now() - started).toBeLessThan(2000)
    for (let i = 0; i < 50 && s.closed.length === 0; i++) await Bun.sleep(10)
    expect(s.closed.length).toBe(1)
    s.server.stop(true)
  })

  test("a connection the server closed while idle is not reused", async () => {
    const s = raw((socket) => {
      if (!wholeRequest(socket)) return
      socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
      setTimeout(() => socket.end(), 10) // keep-alive said, then closed while idle
    })
    const p = pool()
    for (let i = 0; i < 3; i++) {
      expect(text((await p.post(target(s.port), "/x", {}, bytes("x"), opts)).body)).toBe("ok")
      await Bun.sleep(60)
    }
    expect(s.opened()).toBe(3)
    s.server.stop(true)
  })

  test("idle connections are closed after idleTimeoutMs, every one of them", async () => {
    const e = raw((socket) => {
      if (wholeRequest(socket)) socket.write("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
    })
    const p = pool({ idleTimeoutMs: 150 })
    const replies = await Promise.all(
      Array.from({ length: 5 }, () => p.post(target(e.port), "/x", {}, bytes("x"), opts)),
    )
    expect(replies.every((r) => r.status === 200)).toBe(true)
    expect(e.opened()).toBe(5)
    expect(e.closed.length).toBe(0)
    for (let i = 0; i < 100 && e.closed.length < 5; i++) await Bun.sleep(10)
    expect(e.closed.length).toBe(5)
    e.server.stop(true)
  })

  test("requests that gave up while queued leave the connection to the next one; none is opened for them", async () => {
    let release: (() => void) | undefined
    const s = raw((socket) => {
      if (!wholeRequest(socket)) return
      const answer = () => socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
      if (release === undefined) release = answer
      else answer()
    })
    const p = pool({ maxConnectionsPerOrigin: 1 })
    const slow = p.post(target(s.port), "/slow", {}, bytes("x"), opts)
    await Bun.sleep(50)
    const gaveUp = await Promise.all(
      Array.from(
        { length: 5000 },
        () => p.post(target(s.port), "/q", {}, bytes("x"), { timeoutMs: 30 }).catch((e) => e),
      ),
    )
    expect(gaveUp.every((e) => (e as DOMException).name === "TimeoutError")).toBe(true)
    const next = p.post(target(s.port), "/next", {}, bytes("x"), opts)
    release!()
    expect(text((await slow).body)).toBe("ok")
    expect(text((await next).body)).toBe("ok")
    expect(s.opened()).toBe(1)
    s.server.stop(true)
  })

  test("a connection that does not open within connectTimeoutMs fails as connect and frees its place", async () => {
    const host = await unanswered()
    try {
      // One place per origin: had the first attempt kept it, the second request would wait for it
      // and fail only at its own deadline (5 s), as a TimeoutError.
      const p = pool({ maxConnectionsPerOrigin: 1, connectTimeoutMs: 300 })
      const started = performance.now()
      const [first, second] = await Promise.all([
        p.post(target(host.port), "/x", {}, bytes("a"), opts).catch((e) => e),
        p.post(target(host.port), "/x", {}, bytes("b"), opts).catch((e) => e),
      ])
      const took = performance.now() - started
      for (const e of [first, second]) {
        expect(e).toBeInstanceOf(Http1Error)
        expect([(e as Http1Error).kind, (e as Http1Error).message]).toEqual([
          "connect",
          `cannot connect to 127.0.0.1:${host.port}: no connection within 300 ms`,
        ])
      }
      expect(took).toBeGreaterThanOrEqual(550) // one after the other, in the one place
      expect(took).toBeLessThan(3000)
    } finally {
      host.close()
    }
  })

  test("failures: refused, closed mid-reply, malformed, oversized, and unsafe headers", async () => {
    const gone = raw(() => {})
    const port = gone.port
    gone.server.stop(true)
    const refused = await pool().post(target(port), "/x", {}, bytes("x"), opts).catch((e) => e)
    expect(refused).toBeInstanceOf(Http1Error)
    expect((refused as Http1Error).kind).toBe("connect")

    const half = raw((socket) => {
      if (!wholeRequest(socket)) return
      socket.write("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
      socket.end()
    })
    const closed = await pool().post(target(half.port), "/x", {}, bytes("x"), opts).catch((e) => e)
    expect((closed as Http1Error).kind).toBe("closed")
    half.server.stop(true)

    const bad = raw((socket) => {
      if (!wholeRequest(socket)) return
      socket.write("SPDY/3 200 OK\r\n\r\n")
    })
    const malformed = await pool().post(target(bad.port), "/x", {}, bytes("x"), opts).catch((e) => e)
    expect((malformed as Http1Error).kind).toBe("protocol")
    bad.server.stop(true)

    const huge = raw((socket) => {
      if (wholeRequest(socket)) socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2000\r\n\r\n")
    })
    const tooBig = await pool({ maxReplyBytes: 1000 }).post(target(huge.port), "/x", {}, bytes("x"), opts).catch((e) =>
      e
    )
    expect((tooBig as Http1Error).message).toContain("exceeds 1000 bytes")
    huge.server.stop(true)

    const longHead = raw((socket) => {
      if (wholeRequest(socket)) socket.write(`HTTP/1.1 200 OK\r\nx-big: ${"a".repeat(70 * 1024)}`)
    })
    const headTooBig = await pool().post(target(longHead.port), "/x", {}, bytes("x"), opts).catch((e) => e)
    expect((headTooBig as Http1Error).message).toContain("64 KiB")
    longHead.server.stop(true)

    const unsafe = await pool().post(target(1), "/x", { "x-a": "1\r\nx-injected: 1" }, bytes("x"), opts).catch((e) => e)
    expect((unsafe as Http1Error).kind).toBe("protocol")
  })
})
