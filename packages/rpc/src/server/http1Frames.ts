/**
 * HTTP/1.1 message framing as the front sees it: where each request and response head ends and
 * where its body ends (Content-Length or chunked), without copying the bytes it passes on. The
 * front uses it for what Bun.serve does not do itself: the header timeout, the idle timeout
 * between requests (never while a request is being answered), and 413 before "100 Continue".
 * Bun.serve still parses every byte; a message this framer cannot follow just ends its timers'
 * view of the connection (see `lost`), never the connection itself.
 */

/** What follows a head: its body, by length or chunked, none, or everything until the close. */
export type BodyKind =
  | { readonly kind: "length"; readonly bytes: number }
  | { readonly kind: "chunked" }
  | { readonly kind: "none" }
  | { readonly kind: "until-close" }
  /** Stop here: the bytes from this head on are not passed on. */
  | { readonly kind: "refuse" }

/** An answer written by the front itself (HTTP/1, which is what curl and browsers speak first). */
export const frontAnswer = (status: string, code: string, message: string) => {
  const body = JSON.stringify({ error: { code, message } })
  return new TextEncoder().encode(
    `HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
  )
}
const MAX_HEAD = 64 * 1024
const MAX_LINE = 4096
const CRLFCRLF = Buffer.from("\r\n\r\n")

const enum State {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkEnd,
  Trailers,
  UntilClose,
  Lost,
}

export interface Framer {
  /** Feeds bytes; returns how many may be passed on (all, unless a head was refused). */
  readonly feed: (chunk: Uint8Array) => number
  /** No message is in progress (the next byte starts a new head). */
  readonly atBoundary: () => boolean
}

export interface HeadFacts {
  readonly body: BodyKind
  readonly expectContinue: boolean
}

const NONE: BodyKind = { kind: "none" }
const CHUNKED: BodyKind = { kind: "chunked" }
/** Where a header's value is in the lower-case head (spaces trimmed), or undefined. */
const valueOf = (lower: string, name: string): string | undefined => {
  const at = lower.indexOf(name)
  if (at === -1) return undefined
  const end = lower.indexOf("\r", at + name.length)
  return lower.slice(at + name.length, end === -1 ? undefined : end).trim()
}

/**
 * The framing facts of a head (Content-Length, Transfer-Encoding, Expect; RFC 9112 §6.3). This
 * runs twice per request on the front's hot path: one conversion of the head to a string, then
 * only string intrinsics (Buffer methods each cross into native code, which cost more here).
 */
export const headFacts = (lower: string): HeadFacts => {
  const expectContinue = valueOf(lower, "\r\nexpect:") === "100-continue"
  const te = valueOf(lower, "\r\ntransfer-encoding:")
  if (te !== undefined && te.endsWith("chunked")) return { body: CHUNKED, expectContinue }
  const cl = valueOf(lower, "\r\ncontent-length:")
  if (cl === undefined || !/^[0-9]{1,15}$/.test(cl)) return { body: NONE, expectContinue }
  return { body: { kind: "length", bytes: Number(cl) }, expectContinue }
}

export const makeFramer = (handlers: {
  /** A complete head (latin1, lower-cased, without the final CRLFCRLF); says what body follows. */
  readonly onHead: (lowerHead: string) => BodyKind
  /** A message (head and body) has ended. */
  readonly onEnd: () => void
  /** The bytes stopped making sense as HTTP/1.1 (or a head grew past 64 KiB). */
  readonly onLost: () => void
}): Framer => {
  let state = State.Head
  let partial: Uint8Array | undefined
  let remaining = 0
  let line = ""

  const lose = () => {
    state = State.Lost
    partial = undefined
    handlers.onLost()
  }
  const startBody = (body: BodyKind): boolean => {
    switch (body.kind) {
      case "length":
        if (body.bytes === 0) {
          state = State.Head
          handlers.onEnd()
        } else {
          remaining = body.bytes
          state = State.Length
        }
        return true
      case "chunked":
        line = ""
        state = State.ChunkSize
        return true
      case "none":
        state = State.Head
        handlers.onEnd()
        return true
      case "until-close":
        state = State.UntilClose
        return true
      case "refuse":
        state = State.Lost
        return false
    }
  }
  /** Reads a CRLF-terminated line from `buf` at `at`; returns the index after it, or -1. */
  const readLine = (buf: Uint8Array, at: number): number => {
    const end = buf.indexOf(0x0a, at)
    const piece = Buffer.from(buf.buffer, buf.byteOffset + at, (end === -1 ? buf.length : end) - at)
    line += piece.toString("latin1")
    if (line.length > MAX_LINE) {
      lose()
      return buf.length
    }
    return end === -1 ? -1 : end + 1
  }

  const feed = (input: Uint8Array): number => {
    let buf = input
    let at = 0
    // Bytes of a head split over chunks are joined with the new ones (heads are small).
    let base = 0
    if (state === State.Head && partial !== undefined) {
      base = partial.length
      const joined = new Uint8Array(partial.length + input.length)
      joined.set(partial)
      joined.set(input, partial.length)
      buf = joined
      partial = undefined
    }
    while (at < buf.length) {
      switch (state) {
        case State.Head: {
          const bytes = buf instanceof Buffer ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.length)
          const end = bytes.indexOf(CRLFCRLF, at)
          if (end === -1) {
            if (buf.length - at > MAX_HEAD) lose()
            else partial = new Uint8Array(buf.subarray(at))
            return input.length
          }
          const head = bytes.toString("latin1", at, end).toLowerCase()
          const next = end + 4
          if (!startBody(handlers.onHead(head))) return Math.max(0, at - base)
          at = next
          break
        }
        case State.Length: {
          const take = Math.min(remaining, buf.length - at)
          remaining -= take
          at += take
          if (remaining === 0) {
            state = State.Head
            handlers.onEnd()
          }
          break
        }
        case State.ChunkSize: {
          const next = readLine(buf, at)
          if (next === -1) return input.length
          at = next
          const size = parseInt(line.trim().split(";")[0] ?? "", 16)
          line = ""
          if (!Number.isSafeInteger(size) || size < 0) {
            lose()
            break
          }
          if (size === 0) state = State.Trailers
          else {
            remaining = size
            state = State.ChunkData
          }
          break
        }
        case State.ChunkData: {
          const take = Math.min(remaining, buf.length - at)
          remaining -= take
          at += take
          if (remaining === 0) {
            remaining = 2
            state = State.ChunkEnd
          }
          break
        }
        case State.ChunkEnd: {
          const take = Math.min(remaining, buf.length - at)
          remaining -= take
          at += take
          if (remaining === 0) {
            line = ""
            state = State.ChunkSize
          }
          break
        }
        case State.Trailers: {
          const next = readLine(buf, at)
          if (next === -1) return input.length
          at = next
          // readLine keeps the line without its LF: a blank line is "\r" (or "" for a bare LF).
          const done = line === "\r" || line === ""
          line = ""
          if (done) {
            state = State.Head
            handlers.onEnd()
          }
          break
        }
        case State.UntilClose:
        case State.Lost:
          return input.length
      }
    }
    return input.length
  }

  return { feed, atBoundary: () => state === State.Head && partial === undefined }
}
