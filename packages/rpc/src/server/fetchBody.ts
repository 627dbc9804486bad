import { type BodyLimits, type BodyRefusal, refusals } from "./body"

/**
 * The bounded body reader (body.ts) for a fetch `Request` on Bun.serve: the same size limit,
 * total read time (408) and shared memory budget (503) as the node:http reader, and the same
 * refusals. A body with a declared length is taken in one native read (its bytes are counted
 * against the budget up front); a chunked one is read chunk by chunk.
 */

const { tooLarge, budgetFull: busy, late, gone } = refusals

/**
 * Reads still waiting for their bytes, checked by one coarse sweep instead of a timer per
 * request (most bodies are complete when the request arrives).
 */
const waiting = new Set<{ readonly deadline: number; readonly expire: () => void }>()
let sweeper: ReturnType<typeof setInterval> | undefined
const SWEEP_MS = 100
const watch = (timeoutMs: number, expire: () => void) => {
  const item = { deadline: performance.now() + timeoutMs, expire }
  waiting.add(item)
  if (sweeper === undefined) {
    sweeper = setInterval(() => {
      const now = performance.now()
      for (const w of waiting) {
        if (w.deadline <= now) {
          waiting.delete(w)
          w.expire()
        }
      }
      if (waiting.size === 0) {
        clearInterval(sweeper)
        sweeper = undefined
      }
    }, SWEEP_MS)
    sweeper.unref?.()
  }
  return () => void waiting.delete(item)
}

const empty = new Uint8Array(0)

/**
 * One native read of a body with a declared length. It cannot be cancelled while it runs, so the
 * deadline wins a race against it (the 408 closes the connection, which ends the read) and the
 * budget is given back at once, not when the read finally gives up. A client that leaves makes
 * the read fail. (One promise and no abort listener: this runs for every request with a body.)
 */
const readDeclared = (req: Request, size: number, limits: BodyLimits): Promise<Uint8Array | BodyRefusal> =>
  new Promise((resolve) => {
    let settled = false
    const settle = (r: Uint8Array | BodyRefusal) => {
      if (settled) return
      settled = true
      unwatch()
      limits.budget.give(size)
      resolve(r)
    }
    const unwatch = watch(limits.timeoutMs, () => settle(late(limits.timeoutMs)))
    req.arrayBuffer().then((bytes) => settle(new Uint8Array(bytes)), () => settle(gone()))
  })

/** (Not `async`: the common case hands back the one read's own promise, not a promise of it.) */
export const readFetchBody = (req: Request, limits: BodyLimits): Promise<Uint8Array | BodyRefusal> => {
  // (Touching `req.body` makes Bun build a stream, which costs more than the whole read below.)
  const declared = req.headers.get("content-length")
  if (declared !== null) {
    const size = Number(declared)
    if (size > limits.maxBytes) return Promise.resolve(tooLarge(limits.maxBytes))
    if (!limits.budget.take(size)) return Promise.resolve(busy())
    return readDeclared(req, size, limits)
  }
  return readChunked(req, limits)
}

const readChunked = async (req: Request, limits: BodyLimits): Promise<Uint8Array | BodyRefusal> => {
  if (req.body === null) return empty
  const reader = req.body.getReader()
  const chunks: Array<Uint8Array> = []
  let size = 0
  let expired = false
  const unwatch = watch(limits.timeoutMs, () => {
    expired = true
    void reader.cancel().catch(() => undefined)
  })
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (expired) return late(limits.timeoutMs)
      if (done) break
      if (size + value.length > limits.maxBytes) return tooLarge(limits.maxBytes)
      if (!limits.budget.take(value.length)) return busy()
      size += value.length
      chunks.push(value)
    }
  } catch {
    return expired ? late(limits.timeoutMs) : gone()
  } finally {
    unwatch()
    limits.budget.give(size)
  }
  // A body cut short by a client that left is never handed on as if it were whole.
  if (req.signal.aborted) return gone()
  if (chunks.length === 1) return chunks[0]!
  const out = new Uint8Array(size)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.length
  }
  return out
}
