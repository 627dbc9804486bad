import { Effect } from "effect"
import {
  Etcd3,
  GRPCAbortedError,
  GRPCCancelledError,
  GRPCDeadlineExceededError,
  GRPCInternalError,
  GRPCResourceExhastedError,
  GRPCUnavailableError,
  GRPCUnknownError,
  type IKeyValue,
  type IOptions,
} from "etcd3"
import { StorageError } from "@oprc/models"

type Policy = NonNullable<NonNullable<IOptions["faultHandling"]>["global"]>
type Backoff = NonNullable<NonNullable<IOptions["faultHandling"]>["watchBackoff"]>

/**
 * etcd3's default policies retry non-idempotent txns on their own (3 attempts) and open a
 * 5 s circuit breaker per host after 3 failures, which during an election can block every
 * member at once. Retries belong to the store, which knows how to make them safe.
 */
const NEVER_ABORTED = new AbortController().signal

class PassThrough implements Policy {
  declare readonly _altReturn: never
  readonly onSuccess = () => ({ dispose: () => {} })
  readonly onFailure = () => ({ dispose: () => {} })
  execute<T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
    // The executor turns a synchronous throw into a rejection (markFailed relies on it).
    return new Promise<T>((resolve) => resolve(fn({ signal: signal ?? NEVER_ABORTED })))
  }
}

/** The watch stream reconnects quickly: the cache re-subscribes from its own revision anyway. */
class WatchBackoff implements Backoff {
  constructor(readonly duration = 50) {}
  next(): Backoff {
    return new WatchBackoff(Math.min(this.duration * 2, 1000))
  }
}

export const makeClient = (endpoints: ReadonlyArray<string>) =>
  new Etcd3({
    hosts: [...endpoints],
    faultHandling: { host: () => new PassThrough(), global: new PassThrough(), watchBackoff: new WatchBackoff() },
    grpcOptions: {
      // A restarted member is reachable again within a second; keepalive finds dead peers.
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 1000,
      "grpc.keepalive_time_ms": 10_000,
      "grpc.keepalive_timeout_ms": 5_000,
      "grpc.keepalive_permit_without_calls": 1,
    },
  })

const TRANSIENT = [
  GRPCUnavailableError,
  GRPCDeadlineExceededError,
  GRPCInternalError,
  GRPCCancelledError,
  GRPCUnknownError,
  GRPCResourceExhastedError,
  GRPCAbortedError,
]
// etcd's own transient states (server.go/errors.go); they arrive with assorted gRPC codes.
const TRANSIENT_MESSAGE =
  /leader changed|no leader|request timed out|timed out|too many requests|server stopped|not capable|connection|ECONNREFUSED|ECONNRESET|unavailable/i

const isRetryable = (cause: unknown): boolean =>
  TRANSIENT.some((c) => cause instanceof c) || (cause instanceof Error && TRANSIENT_MESSAGE.test(cause.message))

export const toStorageError = (what: string) => (cause: unknown) =>
  new StorageError({
    reason: `etcd ${what}: ${cause instanceof Error ? cause.message : String(cause)}`,
    retryable: isRetryable(cause),
  })

/** One etcd RPC with a deadline and a span; failures become StorageError with `retryable`. */
export const call = <A>(what: string, timeoutMs: number, f: (options: { deadline: Date }) => Promise<A>) =>
  Effect.tryPromise({
    try: () => f({ deadline: new Date(Date.now() + timeoutMs) }),
    catch: toStorageError(what),
  }).pipe(Effect.withSpan(`etcd.${what}`, undefined, { captureStackTrace: false }))

/** `{root}/{kind}/{key}`; the root has no trailing slash. */
export class KeySpace {
  readonly root: string
  readonly start: Buffer
  readonly end: Buffer
  constructor(prefix: string) {
    this.root = prefix.replace(/\/+$/, "")
    this.start = Buffer.from(`${this.root}/`)
    // The range end of a prefix is the prefix with its last byte incremented ("/" + 1 = "0").
    this.end = Buffer.from(`${this.root}0`)
  }
  kindStart(kind: string, prefix = ""): Buffer {
    return Buffer.from(`${this.root}/${kind}/${prefix}`)
  }
  full(kind: string, key: string): Buffer {
    return Buffer.from(`${this.root}/${kind}/${key}`)
  }
  /** [kind, key] of a stored key under the root, or undefined for foreign keys. */
  parse(full: Buffer): readonly [string, string] | undefined {
    const s = full.toString("utf8")
    if (!s.startsWith(`${this.root}/`)) return undefined
    const rest = s.slice(this.root.length + 1)
    const slash = rest.indexOf("/")
    return slash <= 0 ? undefined : [rest.slice(0, slash), rest.slice(slash + 1)]
  }
}

/**
 * The stored value is `{writeId}\n{json}`. The write id lets a retried write recognise its
 * own earlier attempt (applied before the connection broke) instead of reporting a conflict
 * or applying twice. A value without the header (written by another tool) is plain JSON.
 */
const ENVELOPE = /^([0-9a-z.]{1,64})\n/
export const wrap = (writeId: string, json: string): Buffer => Buffer.from(`${writeId}\n${json}`)
export const unwrap = (value: Buffer): { readonly writeId: string | undefined; readonly json: string } => {
  const s = value.toString("utf8")
  const m = ENVELOPE.exec(s)
  return m ? { writeId: m[1], json: s.slice(m[0].length) } : { writeId: undefined, json: s }
}

export interface CachedDoc {
  readonly key: string
  readonly value: string
  readonly revision: bigint
  readonly createRevision: bigint
  readonly writeId: string | undefined
}

export const toDoc = (key: string, kv: IKeyValue): CachedDoc => {
  const { writeId, json } = unwrap(kv.value)
  return { key, value: json, revision: BigInt(kv.mod_revision), createRevision: BigInt(kv.create_revision), writeId }
}
