import { create, fromBinary, toBinary } from "@bufbuild/protobuf"
import { Context, Effect, Layer } from "effect"
import { DeadlineExceeded, entryKeyMessage, isEntryKey, protoEnum, Unavailable } from "@oprc/models"
import { functionv1 } from "@oprc/proto"
import { type BreakerState, CircuitBreaker, type CircuitOpen, Http1Error, Http1Pool } from "@oprc/rpc"
import { currentTraceHeaders } from "@oprc/observability"
import type { Entries, InvocationStatus, StoredObject, Value } from "../domain/types.ts"
import { entriesToProto, entryFromProto } from "../rpc/convert.ts"

/** A call to one function, in domain terms. */
export interface FunctionCall {
  readonly url: string
  /** All replicas of the function (route.urls); when given, the call goes to one of them (see pick). */
  readonly urls?: ReadonlyArray<string> | undefined
  readonly invocationId: string
  readonly cls: string
  readonly fn: string
  /** Stateful calls: the object as loaded (`exists: false` for an object not created yet). */
  readonly object:
    | { readonly id: string; readonly partition: number; readonly state: StoredObject | undefined }
    | undefined
  readonly payload: Uint8Array
  readonly headers: Readonly<Record<string, string>>
  readonly timeoutMs: number
}

export interface FunctionReply {
  readonly status: InvocationStatus
  readonly output: Uint8Array
  readonly error: string
  readonly headers: Readonly<Record<string, string>>
  readonly set: Entries
  readonly remove: ReadonlyArray<string>
  readonly deleteObject: boolean
}

const systemError = (error: string): FunctionReply => ({
  status: "SYSTEM_ERROR",
  output: new Uint8Array(),
  error,
  headers: {},
  set: {},
  remove: [],
  deleteObject: false,
})

const statusOf = (response: functionv1.InvokeResponse): InvocationStatus =>
  // UNSPECIFIED or a status this build does not know: the function's runtime misbehaved.
  protoEnum.invocationStatus.literalOr(response.status, "SYSTEM_ERROR")

const fromResponse = (response: functionv1.InvokeResponse): Effect.Effect<FunctionReply> => {
  // Most replies change no state (stateless or read-only functions): no per-entry checks to run.
  if (response.state === undefined) {
    return Effect.succeed({
      status: statusOf(response),
      output: response.output,
      error: response.error,
      headers: response.headers,
      set: {},
      remove: [],
      deleteObject: false,
    })
  }
  return Effect.gen(function*() {
    // A function is trusted code, but a key it makes up must still be one a client could write and
    // read back (no control characters or whitespace, 1-256 characters), or it would poison the object.
    const remove = response.state?.delete ?? []
    const badKey = [...Object.keys(response.state?.set ?? {}), ...remove].find((k) => !isEntryKey(k))
    if (badKey !== undefined) {
      return systemError(
        `function returned an invalid entry key ${previewKey(badKey)}: an entry key ${entryKeyMessage}`,
      )
    }
    const set: Record<string, Value> = {}
    for (const [k, v] of Object.entries(response.state?.set ?? {})) {
      const decoded = yield* Effect.result(entryFromProto(v))
      if (decoded._tag === "Failure") {
        return systemError(
          `function returned an invalid value for entry "${k}": ${decoded.failure.message}`,
        )
      }
      set[k] = decoded.success
    }
    return {
      status: statusOf(response),
      output: response.output,
      error: response.error,
      headers: response.headers,
      set,
      remove,
      deleteObject: response.state?.deleteObject ?? false,
    }
  })
}

const previewKey = (k: string): string => JSON.stringify(k.length > 40 ? `${k.slice(0, 40)}...` : k)

/** Why a call to a function produced no InvokeResponse: not reached, no answer in time, or a Connect error. */
type CallFailure =
  | { readonly _tag: "Unreachable"; readonly reason: string }
  | { readonly _tag: "Deadline"; readonly reason: string }
  | { readonly _tag: "Failed"; readonly code: string; readonly reason: string }

/** A Connect error body (JSON `{code, message}`), or what the HTTP status says when it is not one. */
const connectError = (status: number, text: string): { code: string; message: string } => {
  try {
    const e = JSON.parse(text) as { code?: unknown; message?: unknown }
    return {
      code: typeof e.code === "string" ? e.code : `http_${status}`,
      message: typeof e.message === "string" ? e.message : text,
    }
  } catch {
    return { code: `http_${status}`, message: text.slice(0, 200) }
  }
}

/** Where a function's Invoke is posted: plain HTTP goes through the pool, HTTPS through fetch. */
type InvokeTarget =
  | { readonly _tag: "pool"; readonly hostname: string; readonly port: number; readonly path: string }
  | { readonly _tag: "fetch"; readonly url: string }

const invokeTarget = (base: string): InvokeTarget => {
  const url = `${base.replace(/\/$/, "")}/oprc.function.v1.FunctionService/Invoke`
  const u = new URL(url)
  if (u.protocol !== "http:") return { _tag: "fetch", url }
  return {
    _tag: "pool",
    hostname: u.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: u.port === "" ? 80 : Number(u.port),
    path: `${u.pathname}${u.search}`,
  }
}

const REPLY_LIMIT = 64 * 1024 * 1024

/**
 * A breaker whose open period grows: the first trial call comes `minMs` after the circuit opens,
 * each failed trial doubles the wait up to `maxMs` (a function that stays down costs one probe per
 * `maxMs`), and closing resets it. While it is open the function's grpc.health.v1 Check is polled
 * (`probe`): the first SERVING answer lets the next call through as the trial, so recovery follows
 * the function, not the backoff. The breaker reads `resetTimeoutMs` on every call, so changing it
 * is enough.
 */
class Guard {
  private next: number
  readonly options: { failureThreshold: number; resetTimeoutMs: number; onStateChange: (state: BreakerState) => void }
  readonly breaker: CircuitBreaker
  constructor(readonly url: string, private readonly minMs: number, private readonly maxMs: number) {
    this.next = Math.min(minMs, maxMs)
    this.options = {
      failureThreshold: 5,
      resetTimeoutMs: this.next,
      onStateChange: (state) => {
        if (state === "open") {
          this.options.resetTimeoutMs = this.next
          this.next = Math.min(this.next * 2, this.maxMs)
        } else if (state === "closed") this.next = Math.min(this.minMs, this.maxMs)
      },
    }
    this.breaker = new CircuitBreaker(url, this.options)
  }
  /** The function said SERVING: the next call is the trial. */
  serving() {
    if (this.breaker.state === "open") this.options.resetTimeoutMs = 0
  }
}

const HEALTH_POLL_MS = 50
const healthCheck = (url: string) =>
  Effect.tryPromise(async (signal) => {
    const res = await fetch(`${url.replace(/\/$/, "")}/grpc.health.v1.Health/Check`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-protocol-version": "1" },
      body: "{}",
      signal: AbortSignal.any([signal, AbortSignal.timeout(500)]),
    })
    return res.status === 200 && ((await res.json()) as { status?: unknown }).status === "SERVING"
  }).pipe(Effect.orElseSucceed(() => false))

/**
 * Calls functions over `oprc.function.v1.FunctionService` (the Connect protocol, binary, unary
 * POST over @oprc/rpc's pooled keep-alive HTTP/1.1 client, or fetch for https: URLs; fetch costs
 * a third of connect-node's HTTP/1.1 client on Bun, and the pool less again, measured in
 * bench/odgm). Deliberately not @oprc/rpc's generic client on `connectFetchTransport`: on this,
 * the hottest path of the platform, that measured +1.53 ms vs +0.99 ms at p50 and 0.24x vs 0.34x
 * throughput in `bun bench/odgm/run.ts 4` (same machine, same run conditions). One circuit breaker per function URL: a dead function fails calls fast (503) instead
 * of making each wait for its deadline, and trial calls, from `breakerResetMinMs` after opening
 * and backing off to `breakerResetMs`, notice it is back.
 * Invoke is not idempotent, so a call that may have reached the function is never retried here.
 */
export class FunctionClient extends Context.Service<FunctionClient, {
  readonly call: (c: FunctionCall) => Effect.Effect<FunctionReply, Unavailable | DeadlineExceeded>
}>()("oprc/odgm/FunctionClient") {
  static readonly layer = (options: { readonly breakerResetMinMs: number; readonly breakerResetMs: number }) =>
    Layer.effect(FunctionClient)(Effect.gen(function*() {
      const guards = new Map<string, Guard>()
      const breakerFor = (url: string) => {
        let g = guards.get(url)
        if (g === undefined) guards.set(url, g = new Guard(url, options.breakerResetMinMs, options.breakerResetMs))
        return g.breaker
      }
      const targets = new Map<string, InvokeTarget>()
      const targetOf = (url: string) => {
        let t = targets.get(url)
        if (t === undefined) targets.set(url, t = invokeTarget(url))
        return t
      }
      // Keep-alive connections to the functions; a reply is at most 64 MiB (an object's state and output).
      const pool = yield* Effect.acquireRelease(
        Effect.sync(() => new Http1Pool({ maxReplyBytes: REPLY_LIMIT })),
        (p) => Effect.sync(() => p.close()),
      )
      /**
       * One POST of the request: the status and the body, through the pool or fetch. `onCancel`
       * is given the way to give the request up (the call's interruption).
       */
      const send = (
        target: InvokeTarget,
        headers: Record<string, string>,
        body: Uint8Array,
        timeoutMs: number,
        onCancel: (cancel: () => void) => void,
      ): Promise<{ status: number; body: Uint8Array }> => {
        if (target._tag === "pool") return pool.post(target, target.path, headers, body, { timeoutMs, onCancel })
        // One controller for interruption and the deadline (cheaper than AbortSignal.any + timeout).
        const abort = new AbortController()
        const timer = setTimeout(() => abort.abort(new DOMException("deadline", "TimeoutError")), timeoutMs)
        onCancel(() => abort.abort(new DOMException("aborted", "AbortError")))
        return fetch(target.url, { method: "POST", headers, body, signal: abort.signal })
          .then(async (res) => ({ status: res.status, body: new Uint8Array(await res.arrayBuffer()) }))
          .finally(() => clearTimeout(timer))
      }
      // Only open circuits are probed, so a healthy platform sends no health checks at all.
      const probe = Effect.gen(function*() {
        const open = [...guards.values()].filter((g) => g.breaker.state === "open")
        yield* Effect.forEach(open, (g) => Effect.map(healthCheck(g.url), (up) => (up ? g.serving() : undefined)), {
          concurrency: "unbounded",
          discard: true,
        })
      })
      yield* probe.pipe(Effect.delay(HEALTH_POLL_MS), Effect.forever, Effect.forkScoped)
      // Round-robin over a function's replicas, skipping those whose circuit is open (a dead
      // replica the CRM has not deregistered yet), so invocations spread over every replica.
      let turn = 0
      const pick = (c: FunctionCall): string => {
        const all = c.urls === undefined || c.urls.length === 0 ? [c.url] : c.urls
        if (all.length === 1) return all[0]!
        turn = (turn + 1) % 1_000_000
        for (let i = 0; i < all.length; i++) {
          const url = all[(turn + i) % all.length]!
          if (breakerFor(url).state !== "open") return url
        }
        return all[turn % all.length]!
      }
      /** The InvokeResponse of a 200; else throws why there is none (a CallFailure). */
      const replyOf = (reply: { status: number; body: Uint8Array }): functionv1.InvokeResponse => {
        if (reply.status === 200) return fromBinary(functionv1.InvokeResponseSchema, reply.body)
        const e = connectError(reply.status, new TextDecoder().decode(reply.body))
        // A function server answering unavailable / deadline_exceeded itself means the same as not reaching it.
        const failure: CallFailure = e.code === "unavailable" ?
          { _tag: "Unreachable", reason: e.message }
          : e.code === "deadline_exceeded" ?
          { _tag: "Deadline", reason: e.message }
          : { _tag: "Failed", code: e.code, reason: e.message }
        throw failure
      }
      const failureOf = (e: unknown, timeoutMs: number): CallFailure => {
        if (typeof e === "object" && e !== null && "_tag" in e) return e as CallFailure
        if (e instanceof DOMException && (e.name === "TimeoutError" || e.name === "AbortError")) {
          return { _tag: "Deadline", reason: `no answer within ${timeoutMs} ms` }
        }
        // It answered, but not with a reply we can read (malformed, or over the size limit).
        if (e instanceof Http1Error && e.kind === "protocol") {
          return { _tag: "Failed", code: "internal", reason: e.message }
        }
        return { _tag: "Unreachable", reason: e instanceof Error ? e.message : String(e) }
      }
      // A callback, not Effect.tryPromise: that makes an AbortController per call for its signal,
      // and the pool a listener on it; an interruption here calls the pool's cancel directly.
      const post = (url: string, body: Uint8Array, headers: Record<string, string>, timeoutMs: number) =>
        Effect.callback<functionv1.InvokeResponse, CallFailure>((resume) => {
          const failed = (e: unknown) => resume(Effect.fail(failureOf(e, timeoutMs)))
          let cancel: (() => void) | undefined
          // (A throw before the request is out, e.g. a function URL that does not parse, is "not
          // reached", as a failed connect would be.)
          try {
            send(
              targetOf(url),
              {
                ...headers,
                "content-type": "application/proto",
                "connect-protocol-version": "1",
                "connect-timeout-ms": String(timeoutMs),
              },
              body,
              timeoutMs,
              (c) => {
                cancel = c
              },
            ).then((reply) => {
              try {
                resume(Effect.succeed(replyOf(reply)))
              } catch (e) {
                failed(e)
              }
            }, failed)
          } catch (e) {
            failed(e)
          }
          return Effect.sync(() => cancel?.())
        })

      return {
        call: Effect.fnUntraced(function*(c: FunctionCall) {
          const trace = yield* currentTraceHeaders
          // Encoded only once the breaker lets the call through: a stateful call carries the whole
          // object, and encoding a 4 MB object for each of a burst of trigger deliveries to a
          // function whose circuit is open stalled the process for seconds (bench/odgm/large-object.ts).
          const encode = () =>
            toBinary(
              functionv1.InvokeRequestSchema,
              create(functionv1.InvokeRequestSchema, {
                invocationId: c.invocationId,
                cls: c.cls,
                function: c.fn,
                payload: c.payload,
                headers: { ...c.headers, ...trace },
                ...(c.object === undefined
                  ? {}
                  : {
                    object: {
                      id: c.object.id,
                      partition: c.object.partition,
                      version: c.object.state?.version ?? 0n,
                      entries: entriesToProto(c.object.state?.entries ?? {}),
                      exists: c.object.state !== undefined,
                    },
                  }),
              }),
            )
          const url = pick(c)
          return yield* breakerFor(url).protect(
            Effect.suspend(() => post(url, encode(), trace, c.timeoutMs)),
            (f) => f._tag !== "Failed",
          ).pipe(
            Effect.flatMap(fromResponse),
            Effect.catch(
              (f: CallFailure | CircuitOpen): Effect.Effect<FunctionReply, Unavailable | DeadlineExceeded> => {
                switch (f._tag) {
                  case "CircuitOpen":
                    return Effect.fail(new Unavailable({ reason: `function ${c.fn} is unavailable: ${f.message}` }))
                  case "Deadline":
                    return Effect.fail(
                      new DeadlineExceeded({ reason: `function ${c.fn} did not answer within ${c.timeoutMs} ms` }),
                    )
                  case "Unreachable":
                    return Effect.fail(new Unavailable({ reason: `function ${c.fn} is unavailable: ${f.reason}` }))
                  case "Failed":
                    return Effect.as(
                      Effect.logWarning(`function ${c.fn} failed (${f.code}): ${f.reason}`),
                      systemError(`function call failed (${f.code}): ${f.reason}`),
                    )
                }
              },
            ),
          )
        }),
      }
    }))
}
