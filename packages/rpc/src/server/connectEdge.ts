import { Code, ConnectError, type ConnectRouter, createConnectRouter } from "@connectrpc/connect"
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node"
import { create, type DescMessage, type JsonValue } from "@bufbuild/protobuf"
import type { UniversalHandler, UniversalServerResponse } from "@connectrpc/connect/protocol"
import { errorToJsonBytes } from "@connectrpc/connect/protocol-connect"
import { type BodyLimits, discardRest, isRefusal, laneBusy, readBounded } from "./body"
import { issueMessage, scanJsonText } from "./jsonDepth"
import { normalizeConnectJson, type Violation } from "./strictJson"
import type { NodeReq, NodeRes } from "./transport"
import { commonv1 } from "@oprc/proto"

/**
 * Our Connect adapter (instead of connect-node's connectNodeAdapter), so that every service
 * mounted on the one-port server decodes the same strict way:
 * - unary Connect calls read their body through the bounded reader (size, time, memory budget);
 * - Connect JSON is decoded as UTF-8 strictly, depth-checked before JSON.parse, and walked along
 *   the message descriptor (unknown fields and enum values refused with their path, short enum
 *   names accepted), then handed to connect-es already parsed (which decodes it strictly);
 * - protobuf decode failures (malformed or truncated bytes, invalid UTF-8 in strings), which
 *   connect-es reports as Internal, become InvalidArgument on Connect, gRPC and gRPC-Web alike.
 */

export interface ConnectEdgeOptions {
  readonly handlers: ReadonlyArray<UniversalHandler>
  readonly body: BodyLimits
  readonly maxJsonDepth: number
  readonly maxJsonValues: number
  readonly fallback: (req: NodeReq, res: NodeRes) => void
  /** A handler's promise failed outside an RPC answer (a client that left, a write error). */
  readonly onFailure: (procedure: string, reason: unknown, aborted: boolean) => void
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true })

const isJsonType = (type: string | undefined) => {
  const t = type?.split(";")[0]?.trim().toLowerCase()
  return t === "application/json"
}
const isUnaryBody = (type: string | undefined) => {
  const t = type?.split(";")[0]?.trim().toLowerCase()
  return t === "application/json" || t === "application/proto"
}

export const invalid = (message: string, violations: ReadonlyArray<Violation> = []) =>
  new ConnectError(
    message,
    Code.InvalidArgument,
    undefined,
    violations.length > 0
      ? [{
        desc: commonv1.FieldViolationsSchema,
        value: create(commonv1.FieldViolationsSchema, { violations: [...violations] }),
      }]
      : undefined,
  )

const writeError = (res: NodeRes, status: number, error: ConnectError, close: boolean) => {
  if (res.headersSent) return void res.end()
  const body = errorToJsonBytes(error, {})
  const headers: Record<string, string> = { "content-type": "application/json" }
  if (close) headers.connection = "close"
  res.writeHead(status, headers)
  res.end(body)
}

/** Parses a unary Connect JSON body for message `input`, or says why it cannot be taken. */
export const parseJsonBody = (
  input: DescMessage,
  bytes: Uint8Array,
  maxDepth: number,
  maxValues: number,
): JsonValue | ConnectError => {
  let text: string
  try {
    text = strictUtf8.decode(bytes)
  } catch {
    return invalid("request body is not valid UTF-8")
  }
  const issue = scanJsonText(text, maxDepth, maxValues)
  if (issue !== undefined) return invalid(`request body ${issueMessage(issue)}`)
  let value: JsonValue
  try {
    value = JSON.parse(text === "" ? "{}" : text) as JsonValue
  } catch (e) {
    return invalid(`request body is not valid JSON: ${e instanceof Error ? e.message : String(e)}`)
  }
  const violations = normalizeConnectJson(input, value)
  if (violations.length > 0) {
    const first = violations[0]!
    return invalid(
      `invalid ${input.typeName}: ${first.path === "" ? "" : `${first.path}: `}${first.message}`,
      violations,
    )
  }
  return value
}

const isDecodeFailure = (message: string | null) => message !== null && /^parse binary: /.test(safeDecode(message))
const safeDecode = (s: string) => {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

const utf8 = new TextEncoder()
const text = new TextDecoder()

const frame = (flags: number, payload: Uint8Array) => {
  const out = new Uint8Array(5 + payload.length)
  out[0] = flags
  new DataView(out.buffer).setUint32(1, payload.length)
  out.set(payload, 5)
  return out
}

/** connect-es answers Internal when protobuf bytes do not decode; that is the client's mistake. */
export const remapDecodeFailure = async (uRes: UniversalServerResponse): Promise<UniversalServerResponse> => {
  // Connect unary: a 500 whose JSON error says "parse binary".
  if (uRes.status === 500 && uRes.body !== undefined) {
    const chunks: Array<Uint8Array> = []
    for await (const c of uRes.body) chunks.push(c)
    const raw = Buffer.concat(chunks)
    try {
      const parsed = JSON.parse(raw.toString("utf8")) as { code?: string; message?: string }
      if (parsed.code === "internal" && isDecodeFailure(parsed.message ?? null)) {
        const body = errorToJsonBytes(invalid(`request is not a valid message: ${parsed.message}`), {})
        uRes.header?.set("content-length", String(body.byteLength))
        return {
          ...uRes,
          status: 400,
          body: (async function*() {
            yield body
          })(),
        }
      }
    } catch {
      // not a Connect error body: leave it
    }
    return {
      ...uRes,
      body: (async function*() {
        yield new Uint8Array(raw)
      })(),
    }
  }
  const body = uRes.body
  if (body === undefined) return uRes
  // gRPC (trailers, filled in when the body ends) and gRPC-Web (a trailer frame in the body).
  return {
    ...uRes,
    body: (async function*() {
      for await (const chunk of body) {
        // Connect streaming: the end-of-stream frame (flag 0x02) carries the error as JSON.
        if (chunk.length > 5 && (chunk[0]! & 0x02) === 0x02 && (chunk[0]! & 0x80) === 0) {
          const end = text.decode(chunk.subarray(5))
          if (/"code":"internal"/.test(end) && /"message":"parse binary: /.test(end)) {
            yield frame(chunk[0]!, utf8.encode(end.replace("\"code\":\"internal\"", "\"code\":\"invalid_argument\"")))
            continue
          }
        }
        if (chunk.length > 5 && (chunk[0]! & 0x80) === 0x80) {
          const trailer = text.decode(chunk.subarray(5))
          const status = /grpc-status: ?13\r\n/i.test(trailer)
          const message = /grpc-message: ?([^\r\n]*)/i.exec(trailer)?.[1] ?? null
          if (status && isDecodeFailure(message)) {
            yield frame(chunk[0]!, utf8.encode(trailer.replace(/grpc-status: ?13/i, "grpc-status: 3")))
            continue
          }
        }
        yield chunk
      }
      const trailer = uRes.trailer
      if (trailer?.get("grpc-status") === "13" && isDecodeFailure(trailer.get("grpc-message"))) {
        trailer.set("grpc-status", "3")
      }
    })(),
  }
}

/** The one connect-es router of a server; both the node:http2 and the Bun.serve side use its handlers. */
export const makeRouter = (readMaxBytes: number): ConnectRouter =>
  createConnectRouter({
    readMaxBytes,
    // Whatever reaches protobuf-es' own JSON parser (compressed or streamed bodies) is strict too.
    jsonOptions: { ignoreUnknownFields: false },
    acceptCompression: [compressionGzip, compressionBrotli],
  })

export const makeConnectEdge = (options: ConnectEdgeOptions) => {
  const paths = new Map<string, UniversalHandler>()
  for (const h of options.handlers) paths.set(h.requestPath, h)

  const run = (handler: UniversalHandler, req: NodeReq, res: NodeRes, parsed: JsonValue | Uint8Array | undefined) => {
    const node = req as Parameters<typeof universalRequestFromNodeRequest>[0]
    const nodeRes = res as unknown as Parameters<typeof universalResponseToNodeResponse>[1]
    const json = parsed instanceof Uint8Array ? undefined : parsed
    const base = universalRequestFromNodeRequest(node, nodeRes as never, json as JsonValue, undefined)
    let held = 0
    const uReq = parsed instanceof Uint8Array
      ? {
        ...base,
        body: (async function*() {
          yield parsed
        })(),
      }
      : parsed === undefined && typeof base.body === "object" && base.body !== null && Symbol.asyncIterator in base.body
      ? { ...base, body: budgeted(base.body as AsyncIterable<Uint8Array>, (n) => void (held += n)) }
      : base
    return handler(uReq)
      .then(remapDecodeFailure)
      .then((uRes) => universalResponseToNodeResponse(uRes, nodeRes))
      .catch((reason: unknown) =>
        options.onFailure(
          `/${handler.service.typeName}/${handler.method.name}`,
          reason,
          ConnectError.from(reason).code === Code.Aborted || uReq.signal.aborted,
        )
      )
      .finally(() => options.body.budget.give(held))
  }

  /**
   * Bodies connect-es reads itself (gRPC, gRPC-Web, Connect streaming, compressed) count against
   * the same memory budget as the ones read here, until the call is answered.
   */
  const budgeted = (body: AsyncIterable<Uint8Array>, onHeld: (bytes: number) => void) =>
    (async function*() {
      for await (const chunk of body) {
        if (!options.body.budget.take(chunk.length)) {
          throw new ConnectError(
            "the server is reading too many request bodies at once; retry shortly",
            Code.Unavailable,
          )
        }
        onHeld(chunk.length)
        yield chunk
      }
    })()

  return (req: NodeReq, res: NodeRes, pathname: string) => {
    const handler = paths.get(pathname)
    if (handler === undefined) return options.fallback(req, res)
    const type = req.headers["content-type"]
    const encoding = req.headers["content-encoding"]
    const plain = encoding === undefined || encoding === "identity"
    if (!(handler.method.methodKind === "unary" && req.method === "POST" && plain && isUnaryBody(type))) {
      return void run(handler, req, res, undefined)
    }
    void readBounded(req, options.body).then((body) => {
      if (isRefusal(body)) {
        writeError(res, body.status, new ConnectError(body.message, body.code), req.httpVersionMajor === 1)
        return discardRest(req)
      }
      return options.body.lane.run(body.length, async () => {
        if (!isJsonType(type)) return run(handler, req, res, body)
        const parsed = parseJsonBody(handler.method.input, body, options.maxJsonDepth, options.maxJsonValues)
        if (parsed instanceof ConnectError) return writeError(res, 400, parsed, false)
        return run(handler, req, res, parsed)
      }, () => writeError(res, laneBusy.status, new ConnectError(laneBusy.message, laneBusy.code), false))
    })
  }
}
