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
   * `work()` at once when `bytes` is under the threshold (nothing added on the hot path), else
   * when the lane is free (first come, first served); `busy()` instead when too many bytes
   * already wait.
   */
  readonly run: <A>(bytes: number, work: () => A | Promise<A>, busy: () => A) => A | Promise<A>
  readonly waiting: () => { readonly requests: number; readonly bytes: number }
}

export interface HeavyLaneOptions {
  /** Bodies of at least this many bytes take the lane. */
  readonly thresholdBytes: number
  /** Bytes of bodies allowed to wait for the lane; beyond it the caller answers 503. */
  readonly maxWaitingBytes: number
}

export const makeHeavyLane = (options: HeavyLaneOptions): HeavyLane => {
  let held = false
  let waitingBytes = 0
  const queue: Array<() => void> = []
  const release = () => {
    const next = queue.shift()
    if (next === undefined) held = false
    // A later turn of the event loop: pending I/O (a probe, a small call) runs first.
    else setImmediate(next)
  }
  const hold = async <A>(bytes: number, work: () => A | Promise<A>): Promise<A> => {
    if (held) {
      waitingBytes += bytes
      await new Promise<void>((resolve) => queue.push(resolve))
      waitingBytes -= bytes
    } else {
      held = true
    }
    try {
      return await work()
    } finally {
      release()
    }
  }
  return {
    run: (bytes, work, busy) => {
      if (bytes < options.thresholdBytes) return work()
      if (held && waitingBytes + bytes > options.maxWaitingBytes) return Promise.resolve(busy())
      return hold(bytes, work)
    },
    waiting: () => ({ requests: queue.length, bytes: waitingBytes }),
  }
}
