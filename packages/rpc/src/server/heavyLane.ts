/**
 * Requests with a large body are worked on one at a time. Decoding and validating megabytes is
 * CPU work on the one event loop, done in slices; but Effect runs every fiber that yielded in
 * one batch, so four large requests at once ran their slices back to back and a health probe
 * arriving between them waited for all four (p99 160-250 ms on a quiet machine). Through this
 * lane a probe waits for at most one slice of one large request, and at most one large body is
 * being parsed (its parsed form alive) at a time. Throughput of large requests is unchanged: they
 * share the one core either way. Requests under the threshold never wait here.
 */
export interface HeavyLane {
  /**
   * Runs `work` at once when `bytes` is under the threshold, else when the lane is free (first
   * come, first served). `undefined` without running it when too many bytes already wait.
   */
  readonly run: <A>(bytes: number, work: () => Promise<A>) => Promise<{ readonly value: A } | undefined>
  readonly waiting: () => { readonly requests: number; readonly bytes: number }
}

export interface HeavyLaneOptions {
  /** Bodies of at least this many bytes take the lane. */
  readonly thresholdBytes: number
  /** Bytes of bodies allowed to wait for the lane; beyond it the caller answers 503. */
  readonly maxWaitingBytes: number
}

/** 64 KiB: a package or object of a few thousand values, a few ms of work. */
export const HEAVY_BODY_BYTES = 64 * 1024

export const makeHeavyLane = (options: HeavyLaneOptions): HeavyLane => {
  let busy = false
  let waitingBytes = 0
  const queue: Array<() => void> = []
  const release = () => {
    const next = queue.shift()
    if (next === undefined) busy = false
    // A later turn of the event loop: pending I/O (a probe, a small call) runs first.
    else setImmediate(next)
  }
  return {
    run: async (bytes, work) => {
      if (bytes < options.thresholdBytes) return { value: await work() }
      if (busy) {
        if (waitingBytes + bytes > options.maxWaitingBytes) return undefined
        waitingBytes += bytes
        await new Promise<void>((resolve) => queue.push(resolve))
        waitingBytes -= bytes
      } else {
        busy = true
      }
      try {
        return { value: await work() }
      } finally {
        release()
      }
    },
    waiting: () => ({ requests: queue.length, bytes: waitingBytes }),
  }
}
