/**
 * A pooled keep-alive HTTP/1.1 client for unary POSTs over plain TCP (Bun.connect), for the
 * platform's hottest outgoing call: ODGM invoking a function. Bun's fetch costs ~25 µs of CPU per
 * call on its own HTTP client thread plus the `Request`/`Response` machinery on the JS thread
 * (docs/benchmarks.md); this writes one buffer per request and parses the reply in place.
 *
 * What it does and does not do, on purpose:
 * - Requests are never retried: a POST that may have reached the server is the caller's to judge
 *   (an invocation is not idempotent). A pooled connection the server closed while idle is noticed
 *   by its `end`/`close` event and dropped before reuse; idle connections are closed by us after
 *   `idleTimeoutMs` (2 s by default), well before common servers' keep-alive timeouts (5 s for
 *   Node, 10-15 s for Bun and ours), so a request racing the server's own idle close is rare.
 * - Replies: `Content-Length`, `Transfer-Encoding: chunked`, or read-until-close; interim 1xx
 *   answers are skipped; `Connection: close` or HTTP/1.0 without keep-alive ends the connection.
 * - Everything is bounded: the reply head (64 KiB), the reply body (`maxReplyBytes`), the time
 *   (`timeoutMs` per request, including the wait for a connection; `connectTimeoutMs` per
 *   connection being opened), and the connections per origin (`maxConnectionsPerOrigin`; more
 *   requests wait in order for a free one).
 * - Failures reject with `Http1Error` (kind "connect", "closed" or "protocol"), or a DOMException
 *   named "TimeoutError" (the deadline) or "AbortError" (the caller's signal), as fetch does.
 */

export interface Http1Reply {
  readonly status: number
  /** Header names in lower case; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>
  readonly body: Uint8Array
}

export interface Http1PoolOptions {
  /** Idle connections kept per origin (host:port). */
  readonly maxIdlePerOrigin?: number
  /** Connections open at once per origin; requests beyond wait for one. */
  readonly maxConnectionsPerOrigin?: number
  /** An idle connection is closed after this long. */
  readonly idleTimeoutMs?: number
  /** A reply body larger than this fails the request (kind "protocol"). */
  readonly maxReplyBytes?: number
  /**
   * A connection not open within this long is given up (kind "connect") and its place freed. A
   * host that drops SYNs (gone, or cut off) otherwise held each place until the kernel gave up
   * (about two minutes), and the requests queued behind those places only timed out.
   */
  readonly connectTimeoutMs?: number
}

export class Http1Error extends Error {
  constructor(readonly kind: "connect" | "closed" | "protocol", message: string) {
    super(message)
    this.name = "Http1Error"
  }
}

const MAX_HEAD_BYTES = 64 * 1024
const CRLF2 = Buffer.from("\r\n\r\n")
const encoder = new TextEncoder()

/** Header names are tokens; values hold no CR, LF or NUL, so nothing can split the request. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const SAFE_VALUE = /^[^\r\n\0]*$/

type BodyMode =
  | { readonly _tag: "length"; remaining: number }
  | { readonly _tag: "chunked" }
  | { readonly _tag: "close" }
  | { readonly _tag: "none" }

/** One request in flight on a connection. */
interface Exchange {
  readonly resolve: (reply: Http1Reply) => void
  readonly reject: (error: unknown) => void
  /** Unparsed bytes of the reply (head, or the chunked framing). */
  pending: Buffer | undefined
  status: number
  headers: Record<string, string> | undefined
  keepAlive: boolean
  mode: BodyMode | undefined
  /** The body as received: one preallocated buffer for Content-Length, else chunks. */
  body: Uint8Array | undefined
  bodyAt: number
  parts: Array<Uint8Array>
  bodyBytes: number
  /** Chunked: bytes left in the current chunk, -1 while a size line is expected, -2 in the trailers. */
  chunkLeft: number
  done: boolean
}

interface Conn {
  readonly origin: Origin
  socket: Bun.Socket<Conn> | undefined
  exchange: Exchange | undefined
  /** Request bytes the socket did not take yet. */
  unsent: Uint8Array | undefined
  closed: boolean
  idleSince: number
}

/** How long a request may take, and how it is given up before that. */
interface Http1RequestOptions {
  readonly timeoutMs: number
  /** Aborting it fails the request. */
  readonly signal?: AbortSignal | undefined
  /**
   * Given, at once, the way to fail the request (the same as aborting `signal`, without an
   * AbortController and a listener per request: an Effect's interruption calls it).
   */
  readonly onCancel?: ((cancel: (reason?: unknown) => void) => void) | undefined
}

/** A request waiting for a connection: given one, or refused (connect failed, the pool closed). */
interface Waiter {
  readonly take: (conn: Conn) => void
  readonly refuse: (error: Error) => void
  /** False once the request gave up (deadline, abort): it is skipped, not given a connection. */
  readonly live: () => boolean
}

interface Origin {
  readonly key: string
  readonly hostname: string
  readonly port: number
  readonly hostHeader: string
  idle: Array<Conn>
  open: number
  waiters: Array<Waiter>
}

const newExchange = (resolve: (r: Http1Reply) => void, reject: (e: unknown) => void): Exchange => ({
  resolve,
  reject,
  pending: undefined,
  status: 0,
  headers: undefined,
  keepAlive: true,
  mode: undefined,
  body: undefined,
  bodyAt: 0,
  parts: [],
  bodyBytes: 0,
  chunkLeft: -1,
  done: false,
})

const concat = (a: Buffer | undefined, b: Uint8Array): Buffer =>
  a === undefined || a.length === 0 ? Buffer.from(b.buffer, b.byteOffset, b.byteLength) : Buffer.concat([a, b])

export class Http1Pool {
  private readonly origins = new Map<string, Origin>()
  private readonly maxIdle: number
  private readonly maxOpen: number
  private readonly idleMs: number
  private readonly maxReply: number
  private readonly connectMs: number
  private sweeper: ReturnType<typeof setInterval> | undefined
  private shut = false
  /** One set of socket callbacks for all connections (Bun.connect's recommended shape). */
  private readonly handlers: Bun.SocketHandler<Conn> = {
    data: (s, chunk) => this.received(s.data, chunk),
    drain: (s) => this.writeUnsent(s.data),
    end: (s) => this.ended(s.data, undefined),
    close: (s, error) => this.ended(s.data, error),
    error: (s, error) => this.ended(s.data, error),
  }

  constructor(options: Http1PoolOptions = {}) {
    this.maxIdle = options.maxIdlePerOrigin ?? 64
    this.maxOpen = options.maxConnectionsPerOrigin ?? 256
    this.idleMs = options.idleTimeoutMs ?? 2000
    this.maxReply = options.maxReplyBytes ?? 64 * 1024 * 1024
    this.connectMs = options.connectTimeoutMs ?? 5000
  }

  /**
   * POSTs `body` to `http://{hostname}:{port}{path}`. `headers` must not set Host,
   * Content-Length, Transfer-Encoding or Connection (the pool writes those).
   */
  post(
    target: { readonly hostname: string; readonly port: number },
    path: string,
    headers: Readonly<Record<string, string>>,
    body: Uint8Array,
    options: Http1RequestOptions,
  ): Promise<Http1Reply> {
    if (this.shut) return Promise.reject(new Http1Error("closed", "the HTTP client is closed"))
    const origin = this.origin(target)
    let head = `POST ${path} HTTP/1.1\r\nhost: ${origin.hostHeader}\r\ncontent-length: ${body.length}\r\n`
    for (const name in headers) {
      const value = headers[name]!
      if (!TOKEN.test(name) || !SAFE_VALUE.test(value)) {
        return Promise.reject(
          new Http1Error("protocol", `header ${JSON.stringify(name)} is not a valid header name and value`),
        )
      }
      head += `${name}: ${value}\r\n`
    }
    head += "\r\n"
    return this.send(origin, Buffer.concat([encoder.encode(head), body]), options)
  }

  /** Closes every idle connection and refuses new requests; requests in flight finish. */
  close(): void {
    this.shut = true
    if (this.sweeper !== undefined) clearInterval(this.sweeper)
    for (const o of this.origins.values()) {
      const idle = o.idle
      const waiters = o.waiters
      o.idle = []
      o.waiters = []
      for (const c of idle) this.destroy(c)
      for (const w of waiters) w.refuse(new Http1Error("closed", "the HTTP client is closed"))
    }
  }

  private origin(t: { readonly hostname: string; readonly port: number }): Origin {
    const key = `${t.hostname}:${t.port}`
    let o = this.origins.get(key)
    if (o === undefined) {
      const host = t.hostname.includes(":") ? `[${t.hostname}]` : t.hostname
      o = { key, hostname: t.hostname, port: t.port, hostHeader: `${host}:${t.port}`, idle: [], open: 0, waiters: [] }
      this.origins.set(key, o)
    }
    return o
  }

  private send(origin: Origin, request: Uint8Array, options: Http1RequestOptions): Promise<Http1Reply> {
    return new Promise<Http1Reply>((resolve, reject) => {
      let conn: Conn | undefined
      let settled = false
      const signal = options.signal
      const finish = () => {
        settled = true
        clearTimeout(timer)
        signal?.removeEventListener("abort", onAbort)
      }
      const fail = (error: unknown) => {
        if (settled) return
        finish()
        if (conn !== undefined && conn.exchange === exchange) {
          // Mid-exchange: the connection's state is unknown, so it is not reused.
          conn.exchange = undefined
          this.destroy(conn)
        }
        reject(error)
      }
      const exchange = newExchange((reply) => {
        if (settled) return
        finish()
        resolve(reply)
      }, fail)
      const timer = setTimeout(
        () => fail(new DOMException(`no reply within ${options.timeoutMs} ms`, "TimeoutError")),
        options.timeoutMs,
      )
      const onAbort = () => fail(signal?.reason ?? new DOMException("aborted", "AbortError"))
      if (signal !== undefined) {
        if (signal.aborted) return onAbort()
        signal.addEventListener("abort", onAbort)
      }
      options.onCancel?.((reason) => fail(reason ?? new DOMException("aborted", "AbortError")))
      this.acquire(origin, {
        take: (c) => {
          // Given up while waiting (deadline, abort): the connection goes to the next request.
          if (settled) return this.release(c)
          conn = c
          c.exchange = exchange
          this.write(c, request)
        },
        refuse: fail,
        live: () => !settled,
      })
    })
  }

  /** An idle connection, a new one, or a place in the queue for the next free one. */
  private acquire(origin: Origin, waiter: Waiter): void {
    for (;;) {
      const c = origin.idle.pop()
      if (c === undefined) break
      if (!c.closed) return waiter.take(c)
    }
    if (origin.open >= this.maxOpen) {
      origin.waiters.push(waiter)
      return
    }
    origin.open++
    const conn: Conn = {
      origin,
      socket: undefined,
      exchange: undefined,
      unsent: undefined,
      closed: false,
      idleSince: 0,
    }
    const refuse = (reason: string) => {
      this.forget(conn)
      waiter.refuse(new Http1Error("connect", `cannot connect to ${origin.key}: ${reason}`))
    }
    // One timer per connection being opened, not per request. Given up, the attempt's socket is
    // closed if it opens later (conn.closed below).
    const connecting = setTimeout(() => refuse(`no connection within ${this.connectMs} ms`), this.connectMs)
    connecting.unref?.()
    Bun.connect<Conn>({ hostname: origin.hostname, port: origin.port, data: conn, socket: this.handlers }).then(
      (socket) => {
        clearTimeout(connecting)
        conn.socket = socket
        if (conn.closed) return socket.terminate()
        socket.setNoDelay(true)
        waiter.take(conn)
      },
      (e: unknown) => {
        clearTimeout(connecting)
        // (After the timer, both steps are no-ops: the place is freed, the request answered.)
        refuse(e instanceof Error ? e.message : String(e))
      },
    )
  }

  /**
   * Requests are written together once the event loop's turn has run (as the server's front
   * batches its answers): measured under c50 invokes, ODGM's CPU per call fell and the function
   * server's too, as its reads come in fewer wake-ups.
   */
  private batch: Array<Conn> = []
  private write(c: Conn, request: Uint8Array): void {
    if (this.batch.length === 0) setImmediate(this.flushBatch)
    c.unsent = request
    this.batch.push(c)
  }
  private readonly flushBatch = () => {
    const conns = this.batch
    this.batch = []
    for (const c of conns) this.writeUnsent(c)
  }

  /** Writes what the socket has not taken yet; the rest waits for `drain`. */
  private writeUnsent(c: Conn): void {
    const rest = c.unsent
    if (rest === undefined || c.closed || c.socket === undefined) return
    const n = c.socket.write(rest)
    c.unsent = n < rest.length ? rest.subarray(Math.max(n, 0)) : undefined
  }

  /** The exchange finished cleanly: keep the connection, or hand it to the next waiter. */
  private release(c: Conn): void {
    c.exchange = undefined
    if (c.closed) return
    const o = c.origin
    const next = this.nextWaiter(o)
    if (next !== undefined) return next.take(c)
    if (this.shut || o.idle.length >= this.maxIdle) return this.destroy(c)
    c.idleSince = performance.now()
    o.idle.push(c)
    this.sweeper ??= setInterval(() => this.sweep(), Math.max(100, this.idleMs / 2))
    this.sweeper.unref?.()
  }

  private sweep(): void {
    const before = performance.now() - this.idleMs
    let any = false
    for (const o of this.origins.values()) {
      if (o.idle.length === 0) continue
      // The list is replaced before any is closed (closing one takes it out of `o.idle`).
      const expired = o.idle.filter((c) => !c.closed && c.idleSince < before)
      o.idle = o.idle.filter((c) => !c.closed && c.idleSince >= before)
      for (const c of expired) this.destroy(c)
      any ||= o.idle.length > 0
    }
    if (!any && this.sweeper !== undefined) {
      clearInterval(this.sweeper)
      this.sweeper = undefined
    }
  }

  /** Closes a connection and frees its place (a waiter, if any, gets a new connection). */
  private destroy(c: Conn): void {
    if (c.closed) return
    this.forget(c)
    c.socket?.terminate()
  }

  /** The connection is gone: its place goes to the next waiter. */
  private forget(c: Conn): void {
    if (c.closed) return
    c.closed = true
    const o = c.origin
    o.open--
    const i = o.idle.indexOf(c)
    if (i >= 0) o.idle.splice(i, 1)
    const next = this.nextWaiter(o)
    if (next !== undefined) this.acquire(o, next)
  }

  /** The first waiting request that has not given up (those that did are dropped). */
  private nextWaiter(o: Origin): Waiter | undefined {
    for (;;) {
      const w = o.waiters.shift()
      if (w === undefined || w.live()) return w
    }
  }

  /** Bytes of the reply arrived. */
  private received(c: Conn, chunk: Uint8Array): void {
    const x = c.exchange
    if (x === undefined) {
      // Nothing was asked: a server that talks out of turn cannot be trusted with the next request.
      return this.destroy(c)
    }
    try {
      this.parse(c, x, chunk)
    } catch (e) {
      x.reject(e instanceof Http1Error ? e : new Http1Error("protocol", String(e)))
    }
  }

  /** The server closed the connection. */
  private ended(c: Conn, error: Error | undefined): void {
    const x = c.exchange
    this.forget(c)
    if (x === undefined) return
    c.exchange = undefined
    if (x.mode?._tag === "close" && error === undefined) {
      return x.resolve({ status: x.status, headers: x.headers!, body: joined(x) })
    }
    const why = error === undefined ? "closed" : error.message
    x.reject(new Http1Error("closed", `the connection to ${c.origin.key} ${why} before the reply was complete`))
  }

  private parse(c: Conn, x: Exchange, chunk: Uint8Array): void {
    let data: Buffer | undefined = concat(x.pending, chunk)
    x.pending = undefined
    while (data !== undefined && data.length > 0 && !x.done) {
      if (x.mode === undefined) {
        const end = data.indexOf(CRLF2)
        if (end < 0) {
          if (data.length > MAX_HEAD_BYTES) throw new Http1Error("protocol", "the reply head exceeds 64 KiB")
          x.pending = Buffer.from(data) // a copy: Bun reuses the chunk after the callback
          return
        }
        if (end > MAX_HEAD_BYTES) throw new Http1Error("protocol", "the reply head exceeds 64 KiB")
        const mode = this.head(x, data.toString("latin1", 0, end))
        data = data.subarray(end + 4)
        if (mode === undefined) continue // an interim 1xx answer: the real head follows
        if (mode._tag === "none" || (mode._tag === "length" && mode.remaining === 0)) {
          x.body = new Uint8Array(0)
          x.done = true
        }
        continue
      }
      data = this.body(x, data)
    }
    if (!x.done) return
    if (data !== undefined && data.length > 0) x.keepAlive = false // bytes after the reply: not ours to guess
    const reply: Http1Reply = { status: x.status, headers: x.headers!, body: joined(x) }
    if (x.keepAlive) {
      x.resolve(reply)
      this.release(c)
    } else {
      c.exchange = undefined
      this.destroy(c)
      x.resolve(reply)
    }
  }

  /** Parses a reply head into `x`; returns its body mode, or undefined for an interim 1xx answer. */
  private head(x: Exchange, text: string): BodyMode | undefined {
    const lines = text.split("\r\n")
    const status = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(lines[0]!)
    if (status === null) {
      throw new Http1Error("protocol", `not an HTTP/1.x status line: ${JSON.stringify(lines[0]!.slice(0, 60))}`)
    }
    const code = Number(status[2])
    const headers: Record<string, string> = Object.create(null)
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!
      const colon = line.indexOf(":")
      if (colon <= 0) {
        throw new Http1Error("protocol", `a malformed reply header line: ${JSON.stringify(line.slice(0, 60))}`)
      }
      const name = line.slice(0, colon).trim().toLowerCase()
      const value = line.slice(colon + 1).trim()
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
    }
    if (code >= 100 && code < 200) {
      if (code === 101) throw new Http1Error("protocol", "the server switched protocols")
      return undefined // interim answer (100 Continue, 103 Early Hints): skipped
    }
    x.status = code
    x.headers = { ...headers }
    const connection = (headers["connection"] ?? "").toLowerCase()
    x.keepAlive = status[1] === "1"
      ? !/(^|,)\s*close\s*(,|$)/.test(connection)
      : /(^|,)\s*keep-alive\s*(,|$)/.test(connection)
    const te = headers["transfer-encoding"]
    const cl = headers["content-length"]
    if (code === 204 || code === 304) {
      x.mode = { _tag: "none" }
    } else if (te !== undefined) {
      if (!/(^|,)\s*chunked\s*$/i.test(te)) {
        throw new Http1Error("protocol", `unsupported transfer-encoding ${JSON.stringify(te)}`)
      }
      x.mode = { _tag: "chunked" }
    } else if (cl !== undefined) {
      if (!/^\d{1,15}$/.test(cl)) throw new Http1Error("protocol", `invalid content-length ${JSON.stringify(cl)}`)
      const n = Number(cl)
      if (n > this.maxReply) {
        throw new Http1Error("protocol", `the reply body (${n} bytes) exceeds ${this.maxReply} bytes`)
      }
      x.mode = { _tag: "length", remaining: n }
      x.body = new Uint8Array(n)
    } else {
      x.mode = { _tag: "close" }
      x.keepAlive = false
    }
    return x.mode
  }

  /** Consumes body bytes; returns what is left of `data` (undefined: all consumed or kept pending). */
  private body(x: Exchange, data: Buffer): Buffer | undefined {
    const mode = x.mode!
    if (mode._tag === "length") {
      const n = Math.min(mode.remaining, data.length)
      x.body!.set(data.subarray(0, n), x.bodyAt)
      x.bodyAt += n
      mode.remaining -= n
      if (mode.remaining === 0) x.done = true
      return data.subarray(n)
    }
    if (mode._tag === "close") {
      this.part(x, data)
      return undefined
    }
    // chunked
    let at = 0
    while (at < data.length) {
      if (x.chunkLeft > 0) {
        const n = Math.min(x.chunkLeft, data.length - at)
        this.part(x, data.subarray(at, at + n))
        at += n
        x.chunkLeft -= n
        if (x.chunkLeft === 0) x.chunkLeft = -3 // the CRLF after the chunk's data
        continue
      }
      const eol = data.indexOf("\r\n", at)
      if (eol < 0) {
        if (data.length - at > 4096) throw new Http1Error("protocol", "a chunk size or trailer line exceeds 4 KiB")
        x.pending = Buffer.from(data.subarray(at))
        return undefined
      }
      const line = data.toString("latin1", at, eol)
      at = eol + 2
      if (x.chunkLeft === -3) {
        if (line !== "") throw new Http1Error("protocol", "a chunk's data is not followed by CRLF")
        x.chunkLeft = -1
      } else if (x.chunkLeft === -1) {
        const size = /^([0-9a-fA-F]{1,8})[ \t]*(?:;.*)?$/.exec(line)
        if (size === null) {
          throw new Http1Error("protocol", `invalid chunk size line ${JSON.stringify(line.slice(0, 40))}`)
        }
        const n = parseInt(size[1]!, 16)
        if (x.bodyBytes + n > this.maxReply) {
          throw new Http1Error("protocol", `the reply body exceeds ${this.maxReply} bytes`)
        }
        x.chunkLeft = n === 0 ? -2 : n
      } else if (line === "") {
        // the empty line after the trailers: the reply is complete
        x.done = true
        return data.subarray(at)
      }
    }
    return undefined
  }

  private part(x: Exchange, bytes: Uint8Array): void {
    x.bodyBytes += bytes.length
    if (x.bodyBytes > this.maxReply) throw new Http1Error("protocol", `the reply body exceeds ${this.maxReply} bytes`)
    x.parts.push(new Uint8Array(bytes)) // a copy: Bun reuses the chunk after the callback
  }
}

const joined = (x: Exchange): Uint8Array => {
  if (x.body !== undefined) return x.body
  if (x.parts.length === 1) return x.parts[0]!
  return Buffer.concat(x.parts)
}
