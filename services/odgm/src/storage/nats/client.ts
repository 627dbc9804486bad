import { createHash } from "node:crypto"
import { type Duration, Effect, Schedule } from "effect"
import { createInbox, type Msg, type NatsConnection, RequestError, TimeoutError } from "@nats-io/transport-node"
import { JetStreamApiError } from "@nats-io/jetstream"
import { StorageError } from "../errors.ts"
import { storageError } from "../common.ts"

/**
 * NATS plumbing shared by the engine: naming, key encoding, error classification and the
 * bounded retry that rides out a JetStream failover (docs/storage-engines.md §2.8 and Failover: 5-7 s without a
 * stream leader on 2.9, reported as "jetstream not enabled" / no responders, plus puts in
 * flight that time out with an unknown outcome).
 */

/** How a failed NATS call may be treated. */
export type NatsFailureKind =
  | { readonly _tag: "Conflict" } // JetStream 10071: wrong last sequence, i.e. our CAS lost
  | { readonly _tag: "Retryable"; readonly cause: unknown } // certainly not applied
  | { readonly _tag: "Ambiguous"; readonly cause: unknown } // may or may not have been applied
  | { readonly _tag: "Fatal"; readonly cause: unknown }

const WRONG_LAST_SEQUENCE = 10071
// 10005 "no suitable peers for placement": a replica's node is back but not yet current (right after a
// restart); nothing was created, and placement succeeds once it catches up, within the failover budget.
const retryableApiCodes = new Set([
  10005, /* no suitable peers for placement */
  10008, /* cluster temporarily unavailable */
  10039, /* jetstream not enabled for account */
])

const classify = (cause: unknown): NatsFailureKind => {
  if (cause instanceof JetStreamApiError) {
    if (cause.code === WRONG_LAST_SEQUENCE) return { _tag: "Conflict" }
    return retryableApiCodes.has(cause.code) || cause.status === 503
      ? { _tag: "Retryable", cause }
      : { _tag: "Fatal", cause }
  }
  if (cause instanceof RequestError && cause.isNoResponders()) return { _tag: "Retryable", cause }
  const message = cause instanceof Error ? cause.message : String(cause)
  // No stream leader: the request reached nobody, so nothing was applied.
  if (/jetstream is not enabled|no responders|503/i.test(message)) return { _tag: "Retryable", cause }
  if (cause instanceof TimeoutError || /timeout|timed out|disconnect|closed|draining|reconnect/i.test(message)) {
    return { _tag: "Ambiguous", cause }
  }
  return { _tag: "Fatal", cause }
}

/** A NATS call failed; `failure` says whether it may have been applied. */
export class NatsCallFailed {
  readonly _tag = "NatsCallFailed"
  constructor(readonly operation: string, readonly failure: NatsFailureKind) {}
}

export const call = <A>(operation: string, f: () => Promise<A>): Effect.Effect<A, NatsCallFailed> =>
  Effect.tryPromise({ try: async () => f(), catch: (cause) => new NatsCallFailed(operation, classify(cause)) })

export const toStorageError = (e: NatsCallFailed): StorageError =>
  new StorageError({
    operation: e.operation,
    reason: e.failure._tag === "Conflict" ? "concurrent modification" : describe(e.failure.cause),
    retryable: e.failure._tag !== "Fatal",
    ...(e.failure._tag === "Conflict" ? {} : { cause: e.failure.cause }),
  })

const describe = (cause: unknown) => (cause instanceof Error ? cause.message : String(cause))

/** Backoff for the failover window: 25 ms doubling to 500 ms. */
export const backoff = Schedule.min([Schedule.exponential("25 millis"), Schedule.spaced("500 millis")])

/** Retries transient failures (and, for reads, ambiguous ones) until `budget` is spent. */
export const retrying = <A>(
  operation: string,
  f: () => Promise<A>,
  options: { readonly budget: Duration.Duration; readonly idempotent: boolean },
): Effect.Effect<A, StorageError> =>
  call(operation, f).pipe(
    Effect.retry({
      schedule: backoff.pipe(Schedule.upTo({ duration: options.budget })),
      while: (e) => e.failure._tag === "Retryable" || (options.idempotent && e.failure._tag === "Ambiguous"),
    }),
    Effect.mapError(toStorageError),
  )

const utf8 = new TextDecoder()
/** JSON from a message or KV value; garbage (not written by us) is a non-retryable StorageError, not a defect. */
export const decodeJson = <T>(operation: string, data: Uint8Array): Effect.Effect<T, StorageError> =>
  Effect.try({ try: () => JSON.parse(utf8.decode(data)) as T, catch: storageError(operation) })

// ---- naming -------------------------------------------------------------------------------

const b64url = (s: string) => Buffer.from(s, "utf8").toString("base64url")
const shortHash = (s: string) =>
  createHash("sha256").update(s).digest("base64url").replace(/[^A-Za-z0-9]/g, "").slice(0, 10)

/** Bucket for a class: readable part sanitized to `[A-Za-z0-9_]`, plus a hash so distinct names never collide. */
export const objectBucket = (prefix: string, cls: string) =>
  `${prefix}_o_${cls.replace(/[^A-Za-z0-9_]/g, "_").slice(0, 48)}_${shortHash(cls)}`
export const objectBucketStreamPrefix = (prefix: string) => `KV_${prefix}_o_`

// Keys (docs/storage-engines.md §2.3): `<partition>.<base64url(id)>`; ids too long for the 4 KB control
// line are hashed into a third token and recovered from the value.
const MAX_ID_TOKEN = 700
export const objectKey = (partition: number, id: string): string => {
  const token = b64url(id)
  return token.length <= MAX_ID_TOKEN
    ? `${partition}.${token}`
    : `${partition}.h.${shortHash(id)}${createHash("sha256").update(id).digest("hex")}`
}
/** The id of a key, or undefined for hashed keys (read the value). */
export const parseObjectKey = (key: string): { partition: number; id: string | undefined } | undefined => {
  const parts = key.split(".")
  const partition = Number(parts[0])
  if (!Number.isInteger(partition)) return undefined
  if (parts.length === 2) return { partition, id: Buffer.from(parts[1]!, "base64url").toString("utf8") }
  return parts.length === 3 ? { partition, id: undefined } : undefined
}
/** A single-token key for an arbitrary string (results, dead letters); hashed when too long. */
export const plainKey = (s: string) => {
  const token = b64url(s)
  if (token.length === 0) return "_"
  return token.length <= MAX_ID_TOKEN ? token : `h.${createHash("sha256").update(s).digest("hex")}`
}

// ---- raw pull requests --------------------------------------------------------------------

/**
 * One pull request on a durable consumer, answered as soon as the server has sent what it has
 * (`no_wait`) or at `expiresMs`. Raw because the v3 client's fetch() waits at least 1 s for a
 * full batch, which would add a second to every trigger.
 */
export const pull = (
  nc: NatsConnection,
  stream: string,
  durable: string,
  batch: number,
  expiresMs?: number,
): Promise<Msg[]> =>
  new Promise((resolve, reject) => {
    const inbox = createInbox()
    const out: Msg[] = []
    const sub = nc.subscribe(inbox, {
      callback: (err, m) => {
        if (err) return finish(err)
        // 404/408 end the request; 503 means no stream leader right now (failover).
        if (m.headers && m.headers.code === 503) return finish(new Error("no responders"))
        if (m.headers && m.headers.code >= 400 && m.data.length === 0) return finish()
        out.push(m)
        if (out.length >= batch) finish()
      },
    })
    const timer = setTimeout(() => finish(new TimeoutError()), (expiresMs ?? 0) + 2_000)
    function finish(err?: unknown) {
      clearTimeout(timer)
      sub.unsubscribe()
      // Messages already received are kept even on error: they are delivered and leased.
      if (err !== undefined && out.length === 0) reject(err)
      else resolve(out)
    }
    const body = expiresMs ? { batch, expires: expiresMs * 1_000_000 } : { batch, no_wait: true }
    nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${durable}`, JSON.stringify(body), { reply: inbox })
  })

/** Delivery count from a JetStream ack subject (v1 `$JS.ACK.<stream>.<consumer>.<n>...` or v2 with domain). */
export const deliveryCount = (reply: string | undefined): number => {
  const t = (reply ?? "").split(".")
  const n = Number(t.length >= 11 ? t[6] : t[4])
  return Number.isInteger(n) && n > 0 ? n : 1
}
