import { Code } from "@connectrpc/connect"
import type { HeavyLane } from "./heavyLane"
import type { NodeReq } from "./transport"

/**
 * Bounded request-body reading shared by REST routes and unary Connect calls: a size limit, a
 * total time limit (a body trickled at 1 KB/s is cut), and one memory budget for all bodies
 * being read at once (100 connections each holding an unfinished 4 MB body must not pin 400 MB).
 */

export interface BodyLimits {
  readonly maxBytes: number
  readonly timeoutMs: number
  readonly budget: BodyBudget
  /** Where the work on a large body waits its turn (heavyLane.ts). */
  readonly lane: HeavyLane
}

/** Why a body was refused; the caller answers with `status` and closes the connection. */
export interface BodyRefusal {
  readonly _tag: "BodyRefusal"
  readonly status: number
  readonly code: Code
  readonly message: string
}

const refusal = (status: number, code: Code, message: string): BodyRefusal => ({
  _tag: "BodyRefusal",
  status,
  code,
  message,
})

export const isRefusal = (r: Uint8Array | BodyRefusal): r is BodyRefusal => !(r instanceof Uint8Array)

/** The answer when the heavy lane has too many bytes waiting. */
export const laneBusy: BodyRefusal = refusal(
  503,
  Code.Unavailable,
  "the server is working on too many large requests; retry shortly",
)

/** The refusals both body readers (this one for node:http2, fetchBody.ts for Bun.serve) give. */
export const refusals = {
  tooLarge: (maxBytes: number) =>
    refusal(413, Code.ResourceExhausted, `request body is larger than the limit of ${maxBytes} bytes`),
  budgetFull: () =>
    refusal(503, Code.Unavailable, "the server is reading too many request bodies at once; retry shortly"),
  late: (ms: number) => refusal(408, Code.DeadlineExceeded, `request body not received within ${ms} ms`),
  gone: () => refusal(400, Code.Canceled, "client closed the connection before sending the body"),
}
const { tooLarge } = refusals

/** Bytes held by bodies being read, across all connections of one server. */
export interface BodyBudget {
  readonly take: (bytes: number) => boolean
  readonly give: (bytes: number) => void
  readonly inUse: () => number
}

export const makeBodyBudget = (totalBytes: number): BodyBudget => {
  let used = 0
  return {
    take: (bytes) => {
      if (used + bytes > totalBytes) return false
      used += bytes
      return true
    },
    give: (bytes) => void (used -= bytes),
    inUse: () => used,
  }
}

/**
 * Reads the whole body within the limits. The request stream is left to the caller's response
 * (which closes the connection on a refusal, see `discardRest`).
 */
export const readBounded = (req: NodeReq, limits: BodyLimits): Promise<Uint8Array | BodyRefusal> =>
  new Promise((resolve) => {
    const declared = Number(req.headers["content-length"] ?? "0")
    if (declared > limits.maxBytes) return resolve(tooLarge(limits.maxBytes))
    const chunks: Array<Buffer> = []
    let size = 0
    let done = false
    const finish = (r: Uint8Array | BodyRefusal) => {
      if (done) return
      done = true
      clearTimeout(timer)
      limits.budget.give(size)
      req.off("data", onData)
      resolve(r)
    }
    const timer = setTimeout(
      () => finish(refusals.late(limits.timeoutMs)),
      limits.timeoutMs,
    )
    const onData = (c: Buffer) => {
      if (done) return
      if (size + c.length > limits.maxBytes) return finish(tooLarge(limits.maxBytes))
      if (!limits.budget.take(c.length)) {
        return finish(
          refusals.budgetFull(),
        )
      }
      size += c.length
      chunks.push(c)
    }
    req.on("data", onData)
    req.once("end", () => finish(new Uint8Array(Buffer.concat(chunks, size))))
    req.once("error", () => finish(refusal(400, Code.InvalidArgument, "request body ended abruptly")))
    req.once("close", () => finish(refusals.gone()))
  })

/**
 * After refusing a body, keep reading (and dropping) what the client still sends for a moment:
 * closing a socket with unread data makes the kernel send a reset, and the client would see
 * "connection reset" instead of our 413.
 */
export const discardRest = (req: NodeReq, maxMs = 1000) => {
  // HTTP/2 ends just the stream; only an HTTP/1 connection has to be closed.
  if (req.readableEnded || req.httpVersionMajor !== 1) return
  req.on("data", () => undefined)
  req.resume()
  const socket = (req as { socket?: { destroy: () => void } }).socket
  setTimeout(() => socket?.destroy(), maxMs).unref()
}
