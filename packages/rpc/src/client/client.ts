import * as fs from "node:fs"
import type {
  DescMessage,
  DescMethod,
  DescMethodServerStreaming,
  DescMethodUnary,
  DescService,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf"
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt"
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect"
import { createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node"
import { createFetchClient } from "@connectrpc/connect/protocol"
import { createTransport as createConnectProtocolTransport } from "@connectrpc/connect/protocol-connect"
import { Duration, Effect, Schedule, Schema, Stream } from "effect"
import { currentTraceHeaders } from "@oprc/observability"
import { codeFromName, codeName } from "../errors"
import { type CircuitBreaker, CircuitOpen } from "./CircuitBreaker"

/** A failed call to another service, with the Connect code it ended with. */
export class RpcClientError extends Schema.TaggedError<RpcClientError>()("RpcClientError", {
  target: Schema.String,
  procedure: Schema.String,
  code: Schema.String,
  reason: Schema.String,
  attempts: Schema.Number,
}) {
  override get message(): string {
    return `${this.procedure} on ${this.target} failed (${this.code}) after ${this.attempts} attempt(s): ${this.reason}`
  }
}

export interface ClientOptions {
  readonly baseUrl: string
  /** connect (default: binary over HTTP/1.1 with Bun's fetch), grpc (HTTP/2) or grpc-web. */
  readonly protocol?: "connect" | "grpc" | "grpc-web"
  /** Per-attempt deadline, sent to the server as the call's timeout. Default 5 s. */
  readonly timeoutMs?: number
  readonly retry?: { readonly maxAttempts: number; readonly baseDelayMs: number; readonly maxDelayMs: number }
  readonly breaker?: CircuitBreaker
  /** Extra headers for every call (e.g. a bearer token). */
  readonly headers?: () => Record<string, string>
  readonly tls?: {
    readonly caFile?: string | undefined
    readonly certFile?: string | undefined
    readonly keyFile?: string | undefined
  }
}

export interface CallOptions {
  readonly timeoutMs?: number
  /** Allow retries for a method not declared idempotent (the caller knows it is safe). */
  readonly idempotent?: boolean
}

type UnaryFn<I extends DescMessage, O extends DescMessage> = (
  request: MessageInitShape<I>,
  options?: CallOptions,
) => Effect.Effect<MessageShape<O>, RpcClientError>
type StreamFn<I extends DescMessage, O extends DescMessage> = (
  request: MessageInitShape<I>,
  options?: CallOptions,
) => Stream.Stream<MessageShape<O>, RpcClientError>

export type EffectClient<S extends DescService> = {
  readonly [K in keyof S["method"]]: S["method"][K] extends DescMethodUnary<infer I, infer O> ? UnaryFn<I, O>
    : S["method"][K] extends DescMethodServerStreaming<infer I, infer O> ? StreamFn<I, O>
    : never
}

/** Codes that say "the target is in trouble", as opposed to "your request is wrong". */
const targetTrouble = new Set<Code>([
  Code.Unavailable,
  Code.DeadlineExceeded,
  Code.Internal,
  Code.Unknown,
  Code.ResourceExhausted,
])
const retryable = new Set<Code>([Code.Unavailable, Code.DeadlineExceeded, Code.ResourceExhausted])

const makeTransport = (options: ClientOptions): Transport => {
  const tlsOptions = options.tls
    ? {
      ...(options.tls.caFile ? { ca: fs.readFileSync(options.tls.caFile) } : {}),
      ...(options.tls.certFile ? { cert: fs.readFileSync(options.tls.certFile) } : {}),
      ...(options.tls.keyFile ? { key: fs.readFileSync(options.tls.keyFile) } : {}),
    }
    : {}
  switch (options.protocol ?? "connect") {
    case "grpc":
      return createGrpcTransport({ baseUrl: options.baseUrl, nodeOptions: tlsOptions })
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl: options.baseUrl, httpVersion: "1.1", nodeOptions: tlsOptions })
    case "connect":
      return connectFetchTransport(options.baseUrl, options.tls ? tlsOptions : undefined)
  }
}

/**
 * Connect (binary) over Bun's native fetch: a third of connect-node's HTTP/1.1 client cost per
 * call on Bun (measured in bench/odgm). fetch would advertise gzip and then decompress the body
 * behind Connect's back (which then rejects the "gzip" it still sees), so it asks for identity.
 * TLS material goes in Bun's `tls` fetch option. Used by makeClient and by the function SDK.
 */
export const connectFetchTransport = (
  baseUrl: string,
  tls?: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer },
): Transport => {
  const identityFetch: typeof fetch = Object.assign(
    (input: string | URL | Request, init?: RequestInit) => {
      // Connect passes a whole Request; its headers are kept and one is overridden.
      const headers = new Headers(input instanceof Request ? input.headers : init?.headers)
      headers.set("accept-encoding", "identity")
      return fetch(input, { ...init, headers, ...(tls ? { tls } : {}) })
    },
    { preconnect: fetch.preconnect },
  )
  return createConnectProtocolTransport({
    httpClient: createFetchClient(identityFetch),
    baseUrl,
    useBinaryFormat: true,
    interceptors: [],
    acceptCompression: [],
    sendCompression: null,
    compressMinBytes: 1024,
    readMaxBytes: 0xffffffff,
    writeMaxBytes: 0xffffffff,
  })
}

/**
 * A client whose methods are Effects: per-attempt deadline, retries with exponential backoff and
 * jitter for idempotent methods only (NO_SIDE_EFFECTS / IDEMPOTENT in the proto, or the caller
 * says so), an optional circuit breaker, and the current trace propagated as `traceparent`.
 */
export const makeClient = <S extends DescService>(service: S, options: ClientOptions): EffectClient<S> => {
  const raw = createClient(service, makeTransport(options)) as unknown as Record<
    string,
    (req: unknown, opts: unknown) => unknown
  >
  const timeoutMs = options.timeoutMs ?? 5000
  const retry = options.retry ?? { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 2000 }
  const out: Record<string, unknown> = {}

  for (const method of service.methods) {
    const procedure = `/${service.typeName}/${method.name}`
    const fail = (e: unknown, attempts: number) => toClientError(options.baseUrl, procedure, e, attempts)
    if (method.methodKind === "unary") {
      out[method.localName] = (request: unknown, o?: CallOptions) => {
        let attempts = 0
        const attempt = Effect.gen(function*() {
          attempts++
          // Read inside this fiber: the caller's span must be the parent of the traceparent sent.
          const trace = yield* currentTraceHeaders
          return yield* Effect.tryPromise({
            try: (signal) =>
              raw[method.localName]!(request, {
                timeoutMs: o?.timeoutMs ?? timeoutMs,
                signal,
                headers: { ...options.headers?.(), ...trace },
              }) as Promise<unknown>,
            catch: (e) => fail(e, attempts),
          })
        })
        const guarded = options.breaker
          ? options.breaker.protect(attempt, (e) => targetTrouble.has(codeOf(e))).pipe(
            Effect.mapError((e) => (e instanceof CircuitOpen ? fail(e, attempts) : e)),
          )
          : attempt
        const mayRetry = o?.idempotent === true || isIdempotent(method)
        const withRetry = mayRetry && retry.maxAttempts > 1
          ? Effect.retry(guarded, {
            // Exponential backoff capped at maxDelayMs, jittered so retrying clients do not align.
            schedule: Schedule.min([
              Schedule.exponential(Duration.millis(retry.baseDelayMs)),
              Schedule.spaced(Duration.millis(retry.maxDelayMs)),
            ]).pipe(Schedule.jittered),
            times: retry.maxAttempts - 1,
            while: (e: RpcClientError) => e.code !== "circuit_open" && retryable.has(codeOf(e)),
          })
          : guarded
        return withRetry.pipe(
          Effect.withSpan(`rpc.client ${service.typeName}/${method.name}`, {
            kind: "client",
            attributes: { "rpc.target": options.baseUrl },
          }),
        )
      }
    } else if (method.methodKind === "server_streaming") {
      out[method.localName] = (request: unknown, o?: CallOptions) =>
        Stream.unwrap(
          Effect.map(currentTraceHeaders, (trace) =>
            Stream.fromAsyncIterable(
              raw[method.localName]!(request, {
                ...(o?.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
                headers: { ...options.headers?.(), ...trace },
              }) as AsyncIterable<unknown>,
              (e) => fail(e, 1),
            )),
        )
    }
  }
  return out as EffectClient<S>
}

const isIdempotent = (method: DescMethod) =>
  method.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS ||
  method.idempotency === MethodOptions_IdempotencyLevel.IDEMPOTENT

const codeOf = (e: RpcClientError): Code => codeFromName(e.code) ?? Code.Unavailable

const toClientError = (target: string, procedure: string, e: unknown, attempts: number): RpcClientError => {
  if (e instanceof RpcClientError) return e
  if (e instanceof CircuitOpen) {
    return new RpcClientError({ target, procedure, code: "circuit_open", reason: e.message, attempts })
  }
  const ce = ConnectError.from(e)
  // fetch reports a refused or reset connection as a plain error, which Connect calls Unknown;
  // for a caller it means the same as connect-node's Unavailable: the target was not reached.
  const code = ce.code === Code.Unknown && isNetworkError(ce.cause ?? e) ? Code.Unavailable : ce.code
  return new RpcClientError({ target, procedure, code: codeName(code), reason: ce.rawMessage, attempts })
}

const networkCodes = new Set([
  "ConnectionRefused",
  "ECONNREFUSED",
  "ECONNRESET",
  "FailedToOpenSocket",
  "ConnectionClosed",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
])

const isNetworkError = (e: unknown): boolean => {
  if (!(e instanceof Error) || e instanceof ConnectError) return false
  const code = (e as { code?: unknown }).code
  return (typeof code === "string" && networkCodes.has(code)) || e.name === "TypeError"
}
