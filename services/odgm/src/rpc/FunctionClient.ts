import { Context, Effect, Layer } from "effect"
import { DeadlineExceeded, Unavailable, valueFromProto, valueToProto } from "@oprc/models"
import { functionv1 } from "@oprc/proto"
import { CircuitBreaker, makeClient, type EffectClient } from "@oprc/rpc"
import { currentTraceHeaders } from "@oprc/observability"
import type { Entries, InvocationStatus, StoredObject, Value } from "../domain/types.ts"
import { fromPlain, toPlain } from "../domain/values.ts"

/** A call to one function, in domain terms. */
export interface FunctionCall {
  readonly url: string
  readonly invocationId: string
  readonly cls: string
  readonly fn: string
  /** Stateful calls: the object as loaded (`exists: false` for an object not created yet). */
  readonly object: { readonly id: string; readonly partition: number; readonly state: StoredObject | undefined } | undefined
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

const statusOf = (s: functionv1.InvocationStatus): InvocationStatus => {
  switch (s) {
    case functionv1.InvocationStatus.OK:
      return "OK"
    case functionv1.InvocationStatus.INVALID:
      return "INVALID"
    case functionv1.InvocationStatus.APP_ERROR:
      return "APP_ERROR"
    default:
      return "SYSTEM_ERROR"
  }
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

const toProtoEntries = (entries: Entries) => {
  const out: Record<string, ReturnType<typeof valueToProto>> = {}
  for (const [k, v] of Object.entries(entries)) out[k] = valueToProto(toPlain(v) as Parameters<typeof valueToProto>[0])
  return out
}

const fromResponse = (response: functionv1.InvokeResponse): Effect.Effect<FunctionReply> =>
  Effect.gen(function* () {
    const set: Record<string, Value> = {}
    for (const [k, v] of Object.entries(response.state?.set ?? {})) {
      const decoded = yield* Effect.result(valueFromProto(v))
      if (decoded._tag === "Failure") return systemError(`function returned an invalid value for entry "${k}": ${decoded.failure.message}`)
      set[k] = fromPlain(decoded.success)
    }
    return {
      status: statusOf(response.status),
      output: response.output,
      error: response.error,
      headers: response.headers,
      set,
      remove: response.state?.delete ?? [],
      deleteObject: response.state?.deleteObject ?? false,
    }
  })

/**
 * Calls functions over `oprc.function.v1.FunctionService` (Connect, binary). One client and one
 * circuit breaker per function URL: a dead function fails calls fast (503) instead of making each
 * wait for its deadline, and a trial call after `breakerResetMs` notices it is back. Invoke is
 * not idempotent, so a call that may have reached the function is never retried here.
 */
export class FunctionClient extends Context.Service<FunctionClient, {
  readonly call: (c: FunctionCall) => Effect.Effect<FunctionReply, Unavailable | DeadlineExceeded>
}>()("oprc/odgm/FunctionClient") {
  static readonly layer = (options: { readonly breakerResetMs: number }) =>
    Layer.sync(FunctionClient)(() => {
      const clients = new Map<string, EffectClient<typeof functionv1.FunctionService>>()
      const clientFor = (url: string) => {
        let c = clients.get(url)
        if (c === undefined) {
          const breaker = new CircuitBreaker(url, { failureThreshold: 5, resetTimeoutMs: options.breakerResetMs })
          clients.set(url, (c = makeClient(functionv1.FunctionService, { baseUrl: url, breaker, retry: { maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0 } })))
        }
        return c
      }
      return {
        call: Effect.fn("FunctionClient.call")(function* (c: FunctionCall) {
          const trace = yield* currentTraceHeaders
          const request = {
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
                    entries: toProtoEntries(c.object.state?.entries ?? {}),
                    exists: c.object.state !== undefined,
                  },
                }),
          }
          return yield* clientFor(c.url).invoke(request, { timeoutMs: c.timeoutMs }).pipe(
            Effect.flatMap(fromResponse),
            Effect.catchTag("RpcClientError", (e): Effect.Effect<FunctionReply, Unavailable | DeadlineExceeded> => {
              if (e.code === "deadline_exceeded") return Effect.fail(new DeadlineExceeded({ reason: `function ${c.fn} did not answer within ${c.timeoutMs} ms` }))
              if (e.code === "unavailable" || e.code === "circuit_open") return Effect.fail(new Unavailable({ reason: `function ${c.fn} is unavailable: ${e.reason}` }))
              return Effect.as(Effect.logWarning(`function ${c.fn} failed: ${e.message}`), systemError(`function call failed (${e.code}): ${e.reason}`))
            }),
          )
        }),
      }
    })
}
