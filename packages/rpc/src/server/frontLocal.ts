import { STATUS_CODES } from "node:http"
import { reusedSlot } from "./answerCache"
import type { AbortHook } from "./CallRunner"
import type { PlainAnswer } from "./plainAnswer"

const noop = () => {}

/**
 * Requests the front answers itself, on the client's own connection, instead of splicing the
 * connection to Bun.serve over a unix socket. The splice costs two socket hops, Bun.serve's parse,
 * a fetch `Request` and `Response` and a body promise per call: about as much CPU as our whole
 * handler stack (docs/benchmarks.md). Only the plain common case is taken here: an HTTP/1.1 head
 * in printable ASCII, with an origin-form target of characters URL parsing leaves as they are,
 * a Host, at most one Content-Length under the local body limit, and no Transfer-Encoding,
 * Expect or Upgrade; and only requests the server says it serves this way (`LocalServe`). The
 * first request that is anything else is passed on, and from then on the whole connection is
 * spliced as before, so answers stay in order and Bun.serve keeps every case it handled.
 * The front's connection watch (frontTimers.ts) sees these bytes first, as it does for spliced
 * ones: header, body and idle timers, the 413 before "100 Continue" and the dot-segment refusal
 * apply unchanged, and it follows the answers written here as it follows Bun.serve's.
 */

export interface LocalRequest {
  readonly method: string
  readonly pathname: string
  /** "" or "?..." */
  readonly search: string
  /** The headers by lower-case name (repeated ones joined with ", ", as `Headers` does). */
  readonly fields: Readonly<Record<string, string>>
  /** The same as a fetch `Headers`, built on first use (most calls only read a few fields). */
  readonly headers: Headers
  readonly body: Uint8Array
  /** Aborted when the client goes away; made on first use. */
  readonly signal: () => AbortSignal
  /** The same as a hook: what it registers is called when the client goes away (no AbortController). */
  readonly onGone: AbortHook
}

/**
 * Serves `req` on the front, or says it is not served this way (`undefined`: Bun.serve gets it).
 * `close`: the answer ends the connection (the client asked, or the server is draining).
 */
export type LocalServe = (req: LocalRequest, close: boolean) => PlainAnswer | Promise<PlainAnswer> | undefined

export interface LocalConnection {
  /** Bytes from the client, after the connection watch. */
  readonly feed: (chunk: Uint8Array) => void
  /** The client's write queue drained: serving may go on. */
  readonly drained: () => void
  /** The client left: a call still running is aborted. */
  readonly gone: () => void
}

/** Beyond this many answer bytes queued for a client that does not read, serving pauses. */
const HIGH_WATER = 256 * 1024
const CRLFCRLF = Buffer.from("\r\n\r\n")
const MAX_HEAD = 64 * 1024
/** A head line of printable ASCII and tabs (no bare CR or LF): anything else is Bun.serve's to judge. */
const plainLine = /^[\t\x20-\x7e]*$/
/** Origin-form targets URL parsing keeps byte for byte (no "\\", no bytes it would escape). */
const plainTarget = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*$/
const token = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const digits = /^[0-9]{1,15}$/
const headerValue = /^[\t\x20-\x7e\x80-\xff]*$/

interface Head {
  readonly method: string
  readonly pathname: string
  readonly search: string
  readonly fields: Record<string, string>
  readonly bodyBytes: number
  readonly close: boolean
}

/** The head as a plain request, or undefined when it is not the plain common case. */
const parseHead = (text: string): Head | undefined => {
  const lines = text.split("\r\n")
  if (!plainLine.test(lines[0]!)) return undefined
  const start = lines[0]!.split(" ")
  if (start.length !== 3 || start[2] !== "HTTP/1.1" || !token.test(start[0]!)) return undefined
  const target = start[1]!
  if (!plainTarget.test(target)) return undefined
  // (No prototype: a header named "__proto__" is a header like any other.)
  const fields: Record<string, string> = Object.create(null)
  let length: number | undefined
  let close = false
  let host = false
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!
    if (!plainLine.test(line)) return undefined
    const colon = line.indexOf(":")
    if (colon <= 0) return undefined
    const name = line.slice(0, colon)
    if (!token.test(name)) return undefined
    const value = line.slice(colon + 1).trim()
    const lower = name.toLowerCase()
    switch (lower) {
      case "content-length":
        if (length !== undefined || !digits.test(value)) return undefined
        length = Number(value)
        break
      case "transfer-encoding":
      case "expect":
      case "upgrade":
        return undefined
      case "connection": {
        const v = value.toLowerCase()
        if (v.includes("upgrade")) return undefined
        if (v.includes("close")) close = true
        break
      }
      case "host":
        // Two Hosts is a bad request (RFC 9112 §3.2): Bun.serve's to answer.
        if (host) return undefined
        host = true
        break
    }
    const before = fields[lower]
    fields[lower] = before === undefined ? value : `${before}, ${value}`
  }
  if (!host) return undefined
  const q = target.indexOf("?")
  return {
    method: start[0]!,
    pathname: q === -1 ? target : target.slice(0, q),
    search: q === -1 ? "" : target.slice(q),
    fields,
    bodyBytes: length ?? 0,
    close,
  }
}

const reason = (status: number) => STATUS_CODES[status] ?? "Unknown"

/** The Date header, made once a second (as Bun.serve and node:http do). */
let dateText = ""
let dateAt = 0
const date = () => {
  const now = Date.now()
  if (now - dateAt >= 1000) {
    dateAt = now - (now % 1000)
    dateText = new Date(now).toUTCString()
  }
  return dateText
}

/** An answer as HTTP/1.1 bytes, with its length (and "connection: close" when `close`). */
const answerBytes = (a: PlainAnswer, close: boolean): Uint8Array => {
  let head = `HTTP/1.1 ${a.status} ${reason(a.status)}\r\n`
  for (const name in a.headers) {
    const value = a.headers[name]!
    // (A fetch Response refuses such values too: they would split the head.)
    if (!headerValue.test(value) || !token.test(name)) throw new Error(`invalid answer header ${JSON.stringify(name)}`)
    if (name !== "connection") head += `${name}: ${value}\r\n`
  }
  if (close) head += "connection: close\r\n"
  const body = a.body
  // 204 and 304 have no body and no length (RFC 9110 §8.6).
  if (a.status === 204 || a.status === 304) return Buffer.from(`${head}date: ${date()}\r\n\r\n`, "latin1")
  if (body === null) return Buffer.from(`${head}content-length: 0\r\ndate: ${date()}\r\n\r\n`, "latin1")
  if (typeof body === "string") {
    return Buffer.from(`${head}content-length: ${Buffer.byteLength(body)}\r\ndate: ${date()}\r\n\r\n${body}`)
  }
  const h = `${head}content-length: ${body.length}\r\ndate: ${date()}\r\n\r\n`
  // Large reused bytes (the answer cache's): the whole answer made last time, while its head is the same.
  const slot = reusedSlot(body)
  if (slot?.whole !== undefined && slot.whole.head === h) return slot.whole.bytes
  const out = Buffer.allocUnsafe(h.length + body.length)
  out.write(h, 0, "latin1")
  out.set(body, h.length)
  if (slot !== undefined) slot.whole = { head: h, bytes: out }
  return out
}

export const makeLocalConnection = (options: {
  readonly serve: LocalServe
  /** Bodies of at least this many bytes are passed on (the heavy lane and stepped decoding live there). */
  readonly maxBodyBytes: number
  readonly draining: () => boolean
  /** Writes an answer to the client (queued if the socket is full); returns the bytes queued after it. */
  readonly write: (bytes: Uint8Array) => number
  /** After an answer with "connection: close": end the connection once it is written. */
  readonly end: () => void
  readonly pause: () => void
  readonly resume: () => void
  /** From this request on, the connection is spliced to Bun.serve, starting with `rest`. */
  readonly passOn: (rest: Uint8Array) => void
  /** A call failed outside an answer (the serve function threw). */
  readonly onFailure: (reason: unknown) => void
}): LocalConnection => {
  let buffered: Buffer = Buffer.alloc(0)
  let busy = false
  let done = false
  let waitingForDrain = false
  let paused = false
  /** The client left (the request being served, if any, is to stop). */
  let left = false
  let abort: AbortController | undefined
  /** Who waits to hear that the client left, for the request being served. */
  let goneListeners: Array<() => void> = []
  const onGone: AbortHook = (listener) => {
    if (left) {
      listener()
      return noop
    }
    goneListeners.push(listener)
    return () => {
      const i = goneListeners.indexOf(listener)
      if (i !== -1) goneListeners.splice(i, 1)
    }
  }
  // The signal is one more listener of the same hook (aborted at once when the client has left).
  const signal = () => {
    if (abort === undefined) {
      const controller = abort = new AbortController()
      onGone(() => controller.abort())
    }
    return abort.signal
  }

  const pause = () => {
    if (!paused) options.pause()
    paused = true
  }

  const passOn = () => {
    done = true
    const rest = buffered
    buffered = Buffer.alloc(0)
    options.passOn(rest)
  }

  const finish = (answer: PlainAnswer, close: boolean) => {
    busy = false
    abort = undefined
    if (goneListeners.length > 0) goneListeners = []
    if (done) return
    let bytes: Uint8Array
    try {
      bytes = answerBytes(answer, close)
    } catch (e) {
      options.onFailure(e)
      bytes = answerBytes(internalAnswer, close = true)
    }
    const queued = options.write(bytes)
    if (close) {
      done = true
      return options.end()
    }
    if (queued > HIGH_WATER) {
      waitingForDrain = true
      return pause()
    }
    pump()
  }

  const failed = (reason: unknown) => {
    options.onFailure(reason)
    finish(internalAnswer, true)
  }

  /** Serves the complete requests buffered, one at a time, in order. */
  const pump = (): void => {
    if (paused && !busy && !waitingForDrain) {
      paused = false
      options.resume()
    }
    while (!busy && !done && !waitingForDrain && buffered.length > 0) {
      const end = buffered.indexOf(CRLFCRLF)
      // (A head the watch let through this long is not the plain case.)
      if (end === -1) return buffered.length > MAX_HEAD ? passOn() : undefined
      const head = parseHead(buffered.toString("latin1", 0, end))
      if (head === undefined || head.bodyBytes >= options.maxBodyBytes) return passOn()
      const size = end + 4 + head.bodyBytes
      if (buffered.length < size) return
      const body = buffered.subarray(end + 4, size)
      const close = head.close || options.draining()
      let headers: Headers | undefined
      const fields = head.fields
      const request: LocalRequest = {
        method: head.method,
        pathname: head.pathname,
        search: head.search,
        fields,
        get headers() {
          return headers ??= new Headers(fields)
        },
        // A copy: the buffer it is in is reused for what follows.
        body: new Uint8Array(body),
        signal,
        onGone,
      }
      let answer: PlainAnswer | Promise<PlainAnswer> | undefined
      try {
        answer = options.serve(request, close)
      } catch (e) {
        buffered = buffered.subarray(size)
        return failed(e)
      }
      if (answer === undefined) return passOn()
      buffered = buffered.subarray(size)
      if (answer instanceof Promise) {
        busy = true
        answer.then((a) => finish(a, close), failed)
        return
      }
      finish(answer, close)
      return
    }
  }

  return {
    feed: (chunk) => {
      if (done) return
      buffered = buffered.length === 0 ? Buffer.from(chunk) : Buffer.concat([buffered, chunk])
      // A client sending ahead while a call runs: its bytes wait here, up to a window.
      if (busy && buffered.length > HIGH_WATER) return pause()
      pump()
    },
    drained: () => {
      if (!waitingForDrain) return
      waitingForDrain = false
      pump()
    },
    gone: () => {
      done = true
      left = true
      const listeners = goneListeners
      goneListeners = []
      for (const l of listeners) l()
    },
  }
}

const internalAnswer: PlainAnswer = {
  status: 500,
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ error: { code: "internal", message: "internal error" } }),
}
