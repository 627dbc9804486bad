import { Code, ConnectError } from "@connectrpc/connect"
import { type DescMessage, fromBinary, fromJson, type JsonValue } from "@bufbuild/protobuf"
import { type UniversalHandler, universalServerResponseToFetch } from "@connectrpc/connect/protocol"
import { codeToHttpStatus, errorToJsonBytes } from "@connectrpc/connect/protocol-connect"
import { answerBinary, answerJson } from "./answerCache"
import { type BodyLimits, type BodyRefusal, isRefusal, laneBusy } from "./body"
import { invalid, parseJsonBody, remapDecodeFailure } from "./connectEdge"
import { type AbortHook, signalHook } from "./CallRunner"
import { readFetchBody } from "./fetchBody"
import type { LocalRequest } from "./frontLocal"
import { type PlainAnswer, toResponse } from "./plainAnswer"
import type { CallContext, DirectUnary } from "./rpcService"

/**
 * Connect over HTTP/1.1 on Bun.serve. Unary calls with a plain JSON or binary body take the
 * direct path: the bounded body reader, the strict JSON pre-pass (or protobuf decode, whose
 * failures are InvalidArgument), the method's CallRunner, and the encoded answer (reused when
 * the handler returns the same object again, see answerCache.ts). connect-es's universal
 * handler cost about as much per call as node:http itself (docs/benchmarks.md), so it only
 * serves what the direct path does not: gRPC-Web, Connect GET, compressed bodies and streams,
 * with the body read by the same bounded reader first.
 */

export interface ConnectFetchOptions {
  readonly handlers: ReadonlyArray<UniversalHandler>
  readonly direct: ReadonlyMap<string, DirectUnary>
  readonly body: BodyLimits
  readonly maxJsonDepth: number
  readonly maxJsonValues: number
  /** A call failed outside an RPC answer (a client that left, a write error). */
  readonly onFailure: (procedure: string, reason: unknown, aborted: boolean) => void
}

const jsonType = { "content-type": "application/json" }
const protoType = { "content-type": "application/proto" }
const notFound = JSON.stringify({ error: { code: "not_found", message: "no such route" } })

/** A Connect error as an answer: its metadata as headers, the JSON error body. */
const errorAnswer = (error: ConnectError): PlainAnswer => {
  const headers: Record<string, string> = {}
  error.metadata.forEach((value, name) => void (headers[name] = value))
  headers["content-type"] = "application/json"
  return { status: codeToHttpStatus(error.code), headers, body: errorToJsonBytes(error, {}) }
}

const errorResponse = (error: ConnectError, close: boolean): Response => toResponse(errorAnswer(error), close)

const refused = (r: BodyRefusal) => errorResponse(new ConnectError(r.message, r.code), true)
const busyAnswer = errorAnswer(new ConnectError(laneBusy.message, laneBusy.code))
const busy = () => toResponse(busyAnswer, true)

/** "application/json" -> "json", "application/proto" -> "proto" (charset allowed), else undefined. */
const unaryFormat = (type: string | null): "json" | "proto" | undefined => {
  if (type === null) return undefined
  const t = type.split(";")[0]!.trim().toLowerCase()
  return t === "application/json" ? "json" : t === "application/proto" ? "proto" : undefined
}

const decode = (input: DescMessage, format: "json" | "proto", bytes: Uint8Array, o: ConnectFetchOptions) => {
  if (format === "proto") {
    try {
      return fromBinary(input, bytes)
    } catch (e) {
      return invalid(`request is not a valid message: parse binary: ${e instanceof Error ? e.message : String(e)}`)
    }
  }
  const parsed = parseJsonBody(input, bytes, o.maxJsonDepth, o.maxJsonValues)
  if (parsed instanceof ConnectError) return parsed
  try {
    return fromJson(input, parsed as JsonValue)
  } catch (e) {
    return invalid(e instanceof Error ? e.message : String(e))
  }
}

/**
 * The call as its handler sees it. The abort signal is built on first use: Bun makes a request's
 * signal lazily, and a call that answers without waiting never needs one. So is the deadline's
 * timer, and it is cleared when the call is answered: an `AbortSignal.timeout` per call that
 * carries connect-timeout-ms (ODGM sends it on every invocation) stayed pending for the whole
 * timeout (30 s by default: ~600 k timers at 20 k calls/s) and cost a function up to ~12 µs of
 * CPU per call under wrk -c50.
 */
class DirectCall implements CallContext {
  readonly timeoutMs: number | undefined
  readonly fields: Readonly<Record<string, string>> | undefined
  /** `performance.now()` by which the client wants its answer (its connect-timeout-ms). */
  readonly #deadlineAt: number | undefined
  #signal: AbortSignal | undefined
  #release: (() => void) | undefined
  constructor(
    readonly procedure: string,
    private readonly from: RequestHeaders,
    private readonly clientSignal: () => AbortSignal,
    /** The client's leaving as a hook (the front's connections have one; else from its signal). */
    private readonly clientGone: AbortHook = signalHook(clientSignal),
  ) {
    this.fields = from.fields
    const timeoutHeader = from.get("connect-timeout-ms")
    this.timeoutMs = timeoutHeader === null ? undefined : Number(timeoutHeader)
    this.#deadlineAt = this.timeoutMs === undefined ? undefined : performance.now() + Math.max(this.timeoutMs, 1)
  }
  get headers(): Headers {
    return this.from.all()
  }
  /** The client's deadline has passed. */
  deadlinePassed(): boolean {
    return this.#deadlineAt !== undefined && performance.now() >= this.#deadlineAt
  }
  /** Calls `left` when the client leaves and `late` when the deadline passes; returns the way to stop. */
  #watch(left: () => void, late: () => void): () => void {
    const off = this.clientGone(left)
    if (this.#deadlineAt === undefined) return off
    const timer = setTimeout(late, Math.max(0, Math.ceil(this.#deadlineAt - performance.now())))
    return () => {
      off()
      clearTimeout(timer)
    }
  }
  /** The runner's hook (registered when the call waits): the client leaves, or the deadline passes. */
  readonly onAbort: AbortHook = (interrupt) => this.#watch(interrupt, interrupt)
  /** Aborted when the client leaves or its deadline passes (made for a handler that reads it). */
  get signal(): AbortSignal {
    if (this.#signal !== undefined) return this.#signal
    if (this.#deadlineAt === undefined) return this.#signal = this.clientSignal()
    const controller = new AbortController()
    this.#release = this.#watch(
      () => controller.abort(this.clientSignal().reason),
      () => controller.abort(new DOMException("The operation timed out.", "TimeoutError")),
    )
    return this.#signal = controller.signal
  }
  /** The call is answered: the signal's deadline timer and client listener go. */
  settled(): void {
    this.#release?.()
    this.#release = undefined
  }
}

/** A request's headers as each transport has them: one by name, or all as a fetch `Headers`. */
interface RequestHeaders {
  readonly get: (lowerName: string) => string | null
  readonly all: () => Headers
  readonly fields: Readonly<Record<string, string>> | undefined
}

const fetchHeaders = (req: Request): RequestHeaders => ({
  get: (name) => req.headers.get(name),
  all: () => req.headers,
  fields: undefined,
})

const localHeaders = (req: LocalRequest): RequestHeaders => ({
  get: (name) => req.fields[name] ?? null,
  all: () => req.headers,
  fields: req.fields,
})

export const makeConnectFetch = (options: ConnectFetchOptions) => {
  const paths = new Map<string, UniversalHandler>()
  for (const h of options.handlers) paths.set(h.requestPath, h)

  const direct = (d: DirectUnary, format: "json" | "proto", req: Request, pathname: string, close: boolean) =>
    readFetchBody(req, options.body).then((bytes) => {
      if (isRefusal(bytes)) return refused(bytes)
      const answer = options.body.lane.run(
        bytes.length,
        () => answerDirect(d, format, bytes, fetchHeaders(req), () => req.signal, undefined, pathname),
        () => busyAnswer,
      )
      // (A refusal for load ends the connection, as the body reader's refusals do.)
      return answer instanceof Promise
        ? answer.then((a) => toResponse(a, close || a === busyAnswer))
        : toResponse(answer, close || answer === busyAnswer)
    })

  /** Decode, call, encode: without a promise when the handler answers without waiting. */
  const answerDirect = (
    d: DirectUnary,
    format: "json" | "proto",
    bytes: Uint8Array,
    headers: RequestHeaders,
    signal: () => AbortSignal,
    gone: AbortHook | undefined,
    pathname: string,
  ): PlainAnswer | Promise<PlainAnswer> => {
    const input = decode(d.method.input, format, bytes, options)
    if (input instanceof ConnectError) return errorAnswer(input)
    const call = new DirectCall(pathname, headers, signal, gone)
    const encode = (answer: unknown): PlainAnswer => {
      const output = d.method.output
      return format === "json"
        ? { status: 200, headers: jsonType, body: answerJson(output, answer as object) }
        : { status: 200, headers: protoType, body: answerBinary(output, answer as object) }
    }
    const failed = (e: unknown) => {
      if (call.deadlinePassed()) {
        return errorAnswer(new ConnectError("the operation timed out", Code.DeadlineExceeded))
      }
      if (signal().aborted) options.onFailure(pathname, e, true)
      return errorAnswer(ConnectError.from(e))
    }
    let result: unknown
    try {
      result = d.call(input, call, call.onAbort)
    } catch (e) {
      call.settled()
      return failed(e)
    }
    if (!(result instanceof Promise)) {
      call.settled()
      return encode(result)
    }
    return result.then(
      (answer) => {
        call.settled()
        return encode(answer)
      },
      (e) => {
        call.settled()
        return failed(e)
      },
    )
  }

  /** Which direct method serves a unary Connect call with these headers, if one does. */
  const directFor = (pathname: string, method: string, headers: RequestHeaders) => {
    const d = options.direct.get(pathname)
    if (d === undefined || method !== "POST") return undefined
    const format = unaryFormat(headers.get("content-type"))
    const encoding = headers.get("content-encoding")
    const version = headers.get("connect-protocol-version")
    const timeout = headers.get("connect-timeout-ms")
    return format !== undefined && (encoding === null || encoding === "identity") &&
        (version === null || version === "1") && (timeout === null || /^[0-9]{1,10}$/.test(timeout))
      ? { d, format }
      : undefined
  }

  const universal = async (handler: UniversalHandler, req: Request, close: boolean) => {
    let bytes: Uint8Array = new Uint8Array(0)
    if (req.body !== null) {
      const read = await readFetchBody(req, options.body)
      if (isRefusal(read)) return refused(read)
      bytes = read
    }
    return options.body.lane.run(bytes.length, () => universalAnswer(handler, req, bytes, close), busy)
  }

  const universalAnswer = async (handler: UniversalHandler, req: Request, bytes: Uint8Array, close: boolean) => {
    const body: AsyncIterable<Uint8Array> = (async function*() {
      if (bytes.length > 0) yield bytes
    })()
    try {
      const uRes = await remapDecodeFailure(
        await handler({
          httpVersion: "1.1",
          method: req.method,
          url: req.url,
          header: req.headers,
          body,
          signal: req.signal,
        }),
      )
      if (close) (uRes.header ??= new Headers()).set("connection", "close")
      return universalServerResponseToFetch(uRes)
    } catch (e) {
      const aborted = ConnectError.from(e).code === Code.Aborted || req.signal.aborted
      options.onFailure(`/${handler.service.typeName}/${handler.method.name}`, e, aborted)
      return errorResponse(ConnectError.from(e), true)
    }
  }

  const fetch = (req: Request, pathname: string, close: boolean): Promise<Response> | Response => {
    const handler = paths.get(pathname)
    if (handler === undefined) return new Response(notFound, { status: 404, headers: jsonType })
    const plan = directFor(pathname, req.method, fetchHeaders(req))
    return plan === undefined ? universal(handler, req, close) : direct(plan.d, plan.format, req, pathname, close)
  }

  /** The direct path for a request the front read itself (frontLocal.ts); undefined for the rest. */
  const local = (req: LocalRequest): PlainAnswer | Promise<PlainAnswer> | undefined => {
    const headers = localHeaders(req)
    const plan = directFor(req.pathname, req.method, headers)
    if (plan === undefined) return undefined
    return answerDirect(plan.d, plan.format, req.body, headers, req.signal, req.onGone, req.pathname)
  }

  return { fetch, local }
}
