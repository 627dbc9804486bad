import { Code, ConnectError } from "@connectrpc/connect"
import { type DescMessage, fromBinary, fromJson, type JsonValue } from "@bufbuild/protobuf"
import { type UniversalHandler, universalServerResponseToFetch } from "@connectrpc/connect/protocol"
import { codeToHttpStatus, errorToJsonBytes } from "@connectrpc/connect/protocol-connect"
import { answerBinary, answerJson } from "./answerCache"
import { type BodyLimits, type BodyRefusal, isRefusal, laneBusy } from "./body"
import { invalid, parseJsonBody, remapDecodeFailure } from "./connectEdge"
import { readFetchBody } from "./fetchBody"
import type { DirectUnary } from "./rpcService"

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

const errorResponse = (error: ConnectError, close: boolean): Response => {
  const headers = new Headers(error.metadata)
  headers.set("content-type", "application/json")
  if (close) headers.set("connection", "close")
  return new Response(errorToJsonBytes(error, {}), { status: codeToHttpStatus(error.code), headers })
}

const refused = (r: BodyRefusal) => errorResponse(new ConnectError(r.message, r.code), true)
const busy = () => refused(laneBusy)

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

export const makeConnectFetch = (options: ConnectFetchOptions) => {
  const paths = new Map<string, UniversalHandler>()
  for (const h of options.handlers) paths.set(h.requestPath, h)

  const direct = async (d: DirectUnary, format: "json" | "proto", req: Request, pathname: string, close: boolean) => {
    const bytes = await readFetchBody(req, options.body)
    if (isRefusal(bytes)) return refused(bytes)
    return options.body.lane.run(bytes.length, () => answer(d, format, bytes, req, pathname, close), busy)
  }

  const answer = async (
    d: DirectUnary,
    format: "json" | "proto",
    bytes: Uint8Array,
    req: Request,
    pathname: string,
    close: boolean,
  ) => {
    const input = decode(d.method.input, format, bytes, options)
    if (input instanceof ConnectError) return errorResponse(input, close)
    const timeoutHeader = req.headers.get("connect-timeout-ms")
    const timeoutMs = timeoutHeader === null ? undefined : Number(timeoutHeader)
    const deadline = timeoutMs === undefined ? undefined : AbortSignal.timeout(Math.max(timeoutMs, 1))
    const signal = deadline === undefined ? req.signal : AbortSignal.any([req.signal, deadline])
    try {
      const answer = await d.call(input, { procedure: pathname, headers: req.headers, signal, timeoutMs })
      const output = d.method.output
      const headers = close ?
        { ...(format === "json" ? jsonType : protoType), connection: "close" }
        : format === "json"
        ? jsonType
        : protoType
      const body = format === "json" ? answerJson(output, answer as object) : answerBinary(output, answer as object)
      return new Response(body, { headers })
    } catch (e) {
      if (deadline?.aborted === true) {
        return errorResponse(new ConnectError("the operation timed out", Code.DeadlineExceeded), close)
      }
      if (req.signal.aborted) options.onFailure(pathname, e, true)
      return errorResponse(ConnectError.from(e), close)
    }
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

  return (req: Request, pathname: string, close: boolean): Promise<Response> | Response => {
    const handler = paths.get(pathname)
    if (handler === undefined) return new Response(notFound, { status: 404, headers: jsonType })
    const d = options.direct.get(pathname)
    const format = unaryFormat(req.headers.get("content-type"))
    const encoding = req.headers.get("content-encoding")
    const version = req.headers.get("connect-protocol-version")
    const timeout = req.headers.get("connect-timeout-ms")
    if (
      d !== undefined && format !== undefined && req.method === "POST" &&
      (encoding === null || encoding === "identity") && (version === null || version === "1") &&
      (timeout === null || /^[0-9]{1,10}$/.test(timeout))
    ) {
      return direct(d, format, req, pathname, close)
    }
    return universal(handler, req, close)
  }
}
