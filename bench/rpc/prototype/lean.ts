// A lean Connect unary JSON path for a fetch `Request` (Bun.serve), the prototype of direction (a)
// in issue 13: decode the body with the method's generated schema, run the handler, encode the
// answer. No universal-handler machinery (connect-es's createFetchHandler costs about as much as
// connect-node here). Streaming, gRPC and gRPC-Web stay on node:http2 (see server-split.ts).
import {
  create,
  type DescMessage,
  type DescService,
  fromJsonString,
  isMessage,
  type MessageInitShape,
  type MessageShape,
  toJsonString,
} from "@bufbuild/protobuf"

type Unary = (input: never) => unknown | Promise<unknown>
interface Method {
  readonly input: DescMessage
  readonly output: DescMessage
  readonly impl: Unary
}

/** An answer already serialised (e.g. cached per stored revision): sent as is, not re-encoded. */
export class Serialised {
  constructor(readonly json: string) {}
}

const connectError = (status: number, code: string, message: string) =>
  new Response(JSON.stringify({ code, message }), { status, headers: { "content-type": "application/json" } })

/** Routes `POST /<service>/<Method>` with `content-type: application/json`; anything else is `undefined`. */
export const leanConnect = (
  services: ReadonlyArray<{ readonly desc: DescService; readonly impl: Record<string, Unary> }>,
  bodyLimitBytes: number,
) => {
  const methods = new Map<string, Method>()
  for (const s of services) {
    for (const m of s.desc.methods) {
      const impl = s.impl[m.localName]
      if (m.methodKind === "unary" && impl !== undefined) {
        methods.set(`/${s.desc.typeName}/${m.name}`, { input: m.input, output: m.output, impl })
      }
    }
  }
  return async (req: Request, pathname: string): Promise<Response | undefined> => {
    const method = methods.get(pathname)
    if (method === undefined || req.method !== "POST") return undefined
    if (req.headers.get("content-type")?.split(";")[0] !== "application/json") return undefined
    if (Number(req.headers.get("content-length") ?? 0) > bodyLimitBytes) {
      return connectError(413, "resource_exhausted", `request body is larger than the limit of ${bodyLimitBytes} bytes`)
    }
    const text = await req.text()
    if (text.length > bodyLimitBytes) {
      return connectError(413, "resource_exhausted", `request body is larger than the limit of ${bodyLimitBytes} bytes`)
    }
    let input: MessageShape<DescMessage>
    try {
      input = fromJsonString(method.input, text, { ignoreUnknownFields: true })
    } catch (e) {
      return connectError(400, "invalid_argument", e instanceof Error ? e.message : String(e))
    }
    const output = await method.impl(input as never)
    if (output instanceof Serialised) {
      return new Response(output.json, { headers: { "content-type": "application/json" } })
    }
    // Handlers may return an init object, as connect-es allows.
    const message = isMessage(output, method.output)
      ? output
      : create(method.output, output as MessageInitShape<DescMessage>)
    return new Response(toJsonString(method.output, message), { headers: { "content-type": "application/json" } })
  }
}
