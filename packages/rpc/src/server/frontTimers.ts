import type { ConnectionTimeouts } from "./connections"
import { type BodyKind, frontAnswer, headFacts, makeFramer } from "./http1Frames"

/**
 * The connection timers of one HTTP/1.1 client, kept by the front from the messages it passes
 * (Bun.serve has no header timeout, sends "100 Continue" before the handler sees the request,
 * and its idle timeout also cuts requests still being answered):
 * - a new connection has `headersTimeoutMs` to complete its first request's head;
 * - while a body is still arriving, the body reader answers 408 at `bodyTimeoutMs` (the front
 *   cuts the connection a little later if that answer cannot be given);
 * - once every request is answered, an idle keep-alive connection is closed after `idleTimeoutMs`
 *   (a request being answered is never cut: the handler's own deadline bounds it);
 * - `Expect: 100-continue` with a declared body over the limit is answered 413 here, before
 *   Bun.serve would send "100 Continue".
 */

export interface Http1Watch {
  /** Client bytes; returns how many go upstream (fewer when the front answered itself). */
  readonly fromClient: (chunk: Uint8Array) => number
  readonly fromServer: (chunk: Uint8Array) => void
  /** The front wrote a whole answer itself (frontLocal.ts): the same as Bun.serve's ending, unparsed. */
  readonly answered: () => void
  /** Checks the deadline (called every 100 ms by the front's sweep). */
  readonly tick: (now: number) => void
  /** The server is draining: close now if idle, else after the last answer. */
  readonly drain: () => void
  readonly stop: () => void
  /** A request has arrived and its answer has not been passed on yet. */
  readonly busy: () => boolean
}

/** How long after the body timeout the front cuts a connection whose 408 could not be sent. */
const BODY_GRACE_MS = 2000

const UNTIL_CLOSE: BodyKind = { kind: "until-close" }
const REFUSE: BodyKind = { kind: "refuse" }
const dotSegment = frontAnswer(
  "400 Bad Request",
  "invalid_argument",
  "the request path has a \".\" or \"..\" segment, which would be resolved away: send the path meant (ids cannot be \".\" or \"..\")",
)
const DOT_SEGMENTS = new Set([".", "..", "%2e", ".%2e", "%2e.", "%2e%2e"])
/**
 * Bun.serve resolves "." and ".." segments (also "%2e" and "\\" separators, as URLs do) before
 * the handler sees the path, so "objects/a/../b" would silently become "objects/b": such
 * request targets are refused here, where the raw bytes still are.
 */
const hasDotSegment = (lower: string) => {
  const start = lower.indexOf(" ") + 1
  let end = lower.indexOf(" ", start)
  if (start === 0 || end === -1) return false
  const q = lower.indexOf("?", start)
  if (q !== -1 && q < end) end = q
  const target = lower.slice(start, end)
  // Every dot segment starts after a separator with "." or "%" (dotted names like "oprc.pm" do not).
  if (!target.includes("/.") && !target.includes("/%") && !target.includes("\\")) return false
  return target.split(/[\\/]/).some((segment) => DOT_SEGMENTS.has(segment))
}
/** A HEAD request (after any stray CRLFs the previous body left). */
const isHead = (lower: string) => lower.startsWith("head ") || /^\s+head /.test(lower)

const tooLarge = (limit: number) =>
  frontAnswer("413 Payload Too Large", "resource_exhausted", `request body is larger than the limit of ${limit} bytes`)

export const watchHttp1 = (options: {
  readonly timeouts: ConnectionTimeouts
  readonly bodyLimitBytes: number
  readonly draining: () => boolean
  /** Write this answer and close (the upstream gets nothing more). */
  readonly answer: (bytes: Uint8Array) => void
  /** Close gracefully (idle, drained). */
  readonly close: () => void
  /** Cut (a head or body that never completes). */
  readonly cut: () => void
}): Http1Watch => {
  const t = options.timeouts
  let deadline = performance.now() + t.headersTimeoutMs
  let onDeadline: () => void = options.cut
  /** Per request sent upstream and not yet answered: whether it was HEAD (its answer has no body). */
  const pending: Array<boolean> = []
  let following = true

  let interim = false

  /** Bytes the framer cannot follow: Bun.serve answers them (400) or not; either way, a last bound. */
  const lost = () => {
    following = false
    deadline = performance.now() + t.bodyTimeoutMs + BODY_GRACE_MS
    onDeadline = options.cut
  }

  /** Answered by the front once the answers before it are out (pipelining keeps the order). */
  let refusal: Uint8Array | undefined
  const refuse = (answer: Uint8Array): BodyKind => {
    following = false
    if (pending.length === 0) options.answer(answer)
    else refusal = answer
    return REFUSE
  }

  /** After a message ended: idle once everything is answered, else wait for the answers. */
  const settle = () => {
    if (!following) return
    if (pending.length === 0 && requests.atBoundary()) {
      if (options.draining()) return options.close()
      deadline = performance.now() + t.idleTimeoutMs
      onDeadline = options.close
    } else if (requests.atBoundary()) {
      deadline = 0
    }
  }

  const requests = makeFramer({
    onHead: (head): BodyKind => {
      const { body, expectContinue } = headFacts(head)
      if (expectContinue && body.kind === "length" && body.bytes > options.bodyLimitBytes) {
        return refuse(tooLarge(options.bodyLimitBytes))
      }
      if (hasDotSegment(head)) return refuse(dotSegment)
      pending.push(isHead(head))
      if (body.kind === "chunked" || (body.kind === "length" && body.bytes > 0)) {
        // The body reader answers 408 at the body timeout; this is the backstop.
        deadline = performance.now() + t.bodyTimeoutMs + BODY_GRACE_MS
        onDeadline = options.cut
      } else {
        deadline = 0
      }
      return body
    },
    onEnd: settle,
    onLost: () => lost(),
  })

  const responses = makeFramer({
    onHead: (head): BodyKind => {
      // "http/1.1 200 ..."
      const status = (head.charCodeAt(9) - 0x30) * 100 + (head.charCodeAt(10) - 0x30) * 10 +
        (head.charCodeAt(11) - 0x30)
      // 1xx (100 Continue) are interim: the final answer follows.
      if (status >= 100 && status < 200) {
        interim = true
        if (status === 101) {
          // An upgraded connection is no longer HTTP/1.1: nothing here to follow.
          following = false
          deadline = 0
        }
        return { kind: "none" }
      }
      if (pending[0] === true || status === 204 || status === 304) return { kind: "none" }
      const { body } = headFacts(head)
      return body.kind === "none" ? UNTIL_CLOSE : body
    },
    onEnd: () => {
      if (interim) return void (interim = false)
      answerEnded()
    },
    onLost: () => lost(),
  })

  const answerEnded = () => {
    pending.shift()
    if (refusal !== undefined && pending.length === 0) return options.answer(refusal)
    settle()
  }

  return {
    fromClient: (chunk) => (following ? requests.feed(chunk) : chunk.length),
    // Answers keep being followed after a refusal: the refusal waits for the ones before it.
    fromServer: (chunk) => void ((following || refusal !== undefined) && responses.feed(chunk)),
    answered: () => void ((following || refusal !== undefined) && answerEnded()),
    tick: (now) => {
      if (deadline !== 0 && now >= deadline) {
        deadline = 0
        onDeadline()
      }
    },
    drain: () => {
      if (pending.length === 0 && requests.atBoundary()) options.close()
    },
    stop: () => void (following = false),
    busy: () => following && pending.length > 0,
  }
}
