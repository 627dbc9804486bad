import type { Nfr } from "@oprc/models"
import type { Observation } from "./queries"

/**
 * The scaling model (docs/crm.md, NFR), pure so it can be tested without time or sockets:
 *
 *   replicas = ceil(demand / capacity)
 *
 * - capacity: requests/s one ready replica serves while the p99 target holds. It starts at
 *   `defaultReplicaCapacityRps`, rises to the per-replica rate observed while p99 is under the
 *   target, and drops to it while p99 is over the target.
 * - demand: the observed rate; or the NFR's min throughput when the function serves less than
 *   that while its replicas are saturated (callers want more than it can give).
 * - out: p99 over the target (at least one more replica), or demand above what runs can serve.
 * - in: only to a count that would still run under `scaleInHeadroom` of capacity, with p99
 *   under that share of its target. The gap between the two thresholds is the hysteresis.
 */

export interface ModelSettings {
  readonly defaultReplicaCapacityRps: number
  readonly saturation: number
  readonly scaleInHeadroom: number
  readonly stabilityMs: number
  readonly cooldownMs: number
  /** After a change, how long metrics still describe the previous replica set. */
  readonly settleMs: number
}

export interface Bounds {
  readonly min: number
  readonly max: number
}

export interface Recommendation {
  readonly replicas: number
  readonly capacityRps: number
  readonly reason: string
}

export interface AnalysisInput {
  readonly observation: Observation
  readonly nfr: Nfr
  /** Replica count the driver runs now. */
  readonly current: number
  readonly ready: number
  readonly bounds: Bounds
}

const clamp = (n: number, b: Bounds) => Math.min(b.max, Math.max(b.min, n))
const f1 = (n: number) => (Math.round(n * 10) / 10).toString()

/** Availability from which one replica is not enough: its crash or restart is an outage. */
const REDUNDANT_AVAILABILITY = 0.99

/**
 * The bounds of a function: minScale (at least 1; at least 2 when the availability NFR is
 * 0.99 or more and maxScale allows) to maxScale (or the configured ceiling).
 */
export const boundsOf = (minScale: number, maxScale: number, maxReplicas: number, availability = 0): Bounds => {
  const max = Math.max(1, minScale, maxScale > 0 ? maxScale : maxReplicas)
  const redundancy = availability >= REDUNDANT_AVAILABILITY ? 2 : 1
  return { min: Math.min(max, Math.max(1, minScale, redundancy)), max }
}

/** One analysis: the replica count the numbers call for now, before stability and cooldown. */
export const recommend = (capacityRps: number, input: AnalysisInput, s: ModelSettings): Recommendation => {
  const { observation: o, nfr, current, ready, bounds } = input
  const rps = o.rps ?? 0
  const perReplica = ready > 0 ? rps / ready : 0
  const target = nfr.maxLatencyP99Ms
  const latencyKnown = target > 0 && o.p99Ms !== undefined && rps > 0
  const latencyOver = latencyKnown && o.p99Ms! > target

  let capacity = capacityRps
  if (latencyKnown && !latencyOver && perReplica > capacity) capacity = perReplica
  if (latencyOver && perReplica > 0 && perReplica < capacity) capacity = perReplica
  capacity = Math.max(capacity, 0.01)

  const minRps = nfr.minThroughputRps
  const short = minRps > 0 && rps < minRps && ready > 0 && perReplica >= capacity * s.saturation
  const demand = short ? minRps : rps
  const needed = demand > 0 ? Math.ceil(demand / capacity) : bounds.min
  const at = `${f1(rps)} rps, ${f1(perReplica)} per replica of ~${f1(capacity)} capacity`
  const done = (replicas: number, reason: string): Recommendation => {
    const bounded = clamp(replicas, bounds)
    const note = bounded !== replicas
      ? ` (bounded by ${bounded === bounds.max ? `maxScale ${bounds.max}` : `the lower bound ${bounds.min}`})`
      : ""
    return { replicas: bounded, capacityRps: capacity, reason: reason + note }
  }

  const budget = nfr.availability > 0 ? 1 - nfr.availability : undefined
  const errorNote = budget !== undefined && o.errorRate !== undefined && o.errorRate > budget
    ? `; error rate ${f1(o.errorRate * 100)}% exceeds the ${f1(budget * 100)}% the availability NFR allows`
    : ""

  // Nothing to judge (no ready replica, or no request series: never called, or not scraped,
  // e.g. discovery broken): hold, rather than read missing numbers as "no traffic".
  if (ready === 0) return { replicas: current, capacityRps: capacity, reason: "no ready replica to measure yet" }
  if (o.rps === undefined) {
    return { replicas: current, capacityRps: capacity, reason: "no request metrics of this function in Prometheus yet" }
  }

  const decide = (): Recommendation => {
    if (latencyOver) {
      return done(Math.max(needed, current + 1), `p99 ${f1(o.p99Ms!)} ms is above the ${f1(target)} ms target at ${at}`)
    }
    if (needed > current) {
      return done(
        needed,
        short
          ? `serving ${f1(rps)} rps, below the ${f1(minRps)} rps NFR, with replicas saturated (${
            f1(perReplica)
          } rps each of ~${f1(capacity)})`
          : `${at} needs ${needed} replicas`,
      )
    }
    const roomy = demand > 0 ? Math.ceil(demand / (capacity * s.scaleInHeadroom)) : bounds.min
    const lower = Math.max(roomy, bounds.min)
    const latencyRoomy = !(target > 0 && o.p99Ms !== undefined && rps > 0) || o.p99Ms! <= target * s.scaleInHeadroom
    if (lower < current && latencyRoomy) {
      return done(lower, rps > 0 ? `${lower} replicas serve ${at} with headroom` : "no traffic")
    }
    return done(current, rps > 0 ? `within targets at ${at}` : "no traffic")
  }
  const r = decide()
  return { ...r, reason: r.reason + errorNote }
}

/** A scale change waiting for its stability window (and, scaling in, the cooldown). */
interface Pending {
  readonly direction: "out" | "in"
  readonly replicas: number
  readonly since: number
}

export interface FunctionState {
  readonly capacityRps: number
  readonly pending: Pending | undefined
  readonly lastScaleAt: number | undefined
}

export const initialState = (s: ModelSettings): FunctionState => ({
  capacityRps: s.defaultReplicaCapacityRps,
  pending: undefined,
  lastScaleAt: undefined,
})

export interface Step {
  readonly state: FunctionState
  /** Set when the replica count should change now (enforce mode applies it). */
  readonly scaleTo: number | undefined
  /** Why the count changes or does not, in words. */
  readonly status: string
}

/**
 * Stability and cooldown over successive recommendations. The window tracks a direction, and
 * applies the most conservative count recommended during it (the smallest out, the largest in),
 * so a drifting rate does not restart the clock. Any pass recommending the current count or the
 * other direction resets it.
 */
export const step = (
  state: FunctionState,
  rec: Recommendation,
  current: number,
  now: number,
  s: ModelSettings,
): Step => {
  const base = { ...state, capacityRps: rec.capacityRps }
  if (rec.replicas === current) return { state: { ...base, pending: undefined }, scaleTo: undefined, status: "steady" }
  const direction = rec.replicas > current ? "out" : "in"
  const sinceChange = state.lastScaleAt === undefined ? Infinity : now - state.lastScaleAt
  if (direction === "out" && sinceChange < s.settleMs) {
    // The numbers still include the time before the last change; acting on them would overshoot.
    return {
      state: { ...base, pending: undefined },
      scaleTo: undefined,
      status: `settling after the last change (${Math.ceil((s.settleMs - sinceChange) / 1000)} s left)`,
    }
  }
  const prior = state.pending?.direction === direction ? state.pending : undefined
  const pending: Pending = prior === undefined
    ? { direction, replicas: rec.replicas, since: now }
    : {
      ...prior,
      replicas: direction === "out" ? Math.min(prior.replicas, rec.replicas) : Math.max(prior.replicas, rec.replicas),
    }
  const stableFor = now - pending.since
  if (stableFor < s.stabilityMs) {
    return {
      state: { ...base, pending },
      scaleTo: undefined,
      status: `${pending.replicas} replicas if this holds ${Math.ceil((s.stabilityMs - stableFor) / 1000)} s more`,
    }
  }
  if (direction === "in" && sinceChange < s.cooldownMs) {
    return {
      state: { ...base, pending },
      scaleTo: undefined,
      status: `scale-in to ${pending.replicas} waits for the cooldown (${
        Math.ceil((s.cooldownMs - sinceChange) / 1000)
      } s left)`,
    }
  }
  return {
    state: { ...base, pending: undefined },
    scaleTo: pending.replicas,
    status: `scaling ${direction} to ${pending.replicas}`,
  }
}

/** The state after the driver applied (or, in observe mode, would have applied) a change. */
export const applied = (state: FunctionState, now: number): FunctionState => ({
  ...state,
  pending: undefined,
  lastScaleAt: now,
})
