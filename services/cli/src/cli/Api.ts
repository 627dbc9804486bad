import { Context, Effect, Layer } from "effect"
import { type FieldPath, ServerRefused, Unreachable } from "./errors"
import { type Endpoint, type Endpoints, resolveEndpoints } from "./Endpoints"

export interface ApiRequest {
  readonly method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE"
  readonly path: string
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>
  readonly body?: string | Uint8Array
  readonly contentType?: string
  readonly headers?: Readonly<Record<string, string>>
  /** Whole-request deadline; default 30 s. Long polls pass their wait plus a margin. */
  readonly timeoutMs?: number
  /** Statuses returned to the caller instead of failing (e.g. 404 when probing for existence). */
  readonly accept?: ReadonlyArray<number>
}

export interface ApiReply {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  /** The body parsed as JSON, or undefined when it is not JSON. */
  readonly json: unknown
}

const parseJson = (text: string): unknown => {
  if (text === "") return undefined
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}

const isRecord = (u: unknown): u is Record<string, unknown> => u !== null && typeof u === "object" && !Array.isArray(u)

/**
 * REST errors `{"error": {"code", "message", "violations"}}` (PM and ODGM), Connect errors
 * `{"code", "message"}` (the CRM's Connect paths), or whatever text came back.
 */
const refusal = (ep: Endpoint, status: number, text: string, json: unknown): ServerRefused => {
  const error = isRecord(json) && isRecord(json["error"])
    ? json["error"]
    : isRecord(json) && typeof json["code"] === "string"
    ? json
    : undefined
  const violations: Array<FieldPath> = Array.isArray(error?.["violations"])
    ? error["violations"].filter(isRecord).map((v) => ({
      path: String(v["path"] ?? ""),
      message: String(v["message"] ?? ""),
    }))
    : []
  const firstLine = text.split("\n")[0]!.slice(0, 300)
  const message = typeof error?.["message"] === "string"
    ? error["message"]
    : firstLine === ""
    ? "no details"
    : firstLine
  // The message of a validation error repeats its violations; they are printed one per line below it.
  const repeats = violations.length > 0 && violations.some((v) => message.includes(v.message))
  return new ServerRefused({
    server: ep.server,
    status,
    code: typeof error?.["code"] === "string" ? error["code"] : `http_${status}`,
    reason: repeats ? `invalid request, ${violations.length} problem(s)` : message,
    violations,
  })
}

const describeNetworkError = (e: unknown): string => {
  if (e instanceof DOMException && (e.name === "TimeoutError" || e.name === "AbortError")) return "no answer in time"
  const err = e as { code?: unknown; message?: unknown }
  const code = typeof err.code === "string" ? err.code : undefined
  if (code === "ConnectionRefused" || code === "ECONNREFUSED") return "connection refused"
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "unknown host"
  const message = typeof err.message === "string" ? err.message : String(e)
  return code !== undefined && !message.includes(code) ? `${message} (${code})` : message
}

/** Plain fetch against the servers' REST and Connect paths, with the context's token and CA. */
export class Api extends Context.Service<Api, {
  readonly call: (ep: Endpoint, request: ApiRequest) => Effect.Effect<ApiReply, ServerRefused | Unreachable>
}>()("oprc/cli/Api") {
  static readonly layer = Layer.succeed(Api)({
    call: (ep, request) =>
      Effect.gen(function*() {
        const url = new URL(ep.url + request.path)
        for (const [k, v] of Object.entries(request.query ?? {})) {
          if (v !== undefined) url.searchParams.set(k, String(v))
        }
        const headers: Record<string, string> = { accept: "application/json", ...request.headers }
        if (request.contentType !== undefined) headers["content-type"] = request.contentType
        if (ep.token !== undefined) headers["authorization"] = `Bearer ${ep.token}`
        const timeoutMs = request.timeoutMs ?? 30_000
        const response = yield* Effect.tryPromise({
          try: async (signal) => {
            const res = await fetch(url, {
              method: request.method,
              headers,
              signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
              ...(request.body === undefined ? {} : { body: request.body }),
              ...(ep.ca === undefined ? {} : { tls: { ca: ep.ca } }),
            })
            return { status: res.status, headers: res.headers, text: await res.text() }
          },
          catch: (e) => new Unreachable({ server: ep.server, url: ep.url, reason: describeNetworkError(e) }),
        })
        const json = parseJson(response.text)
        if ((response.status >= 200 && response.status < 300) || request.accept?.includes(response.status)) {
          return { ...response, json }
        }
        return yield* refusal(ep, response.status, response.text, json)
      }),
  })
}

const callOn = (pick: (e: Endpoints) => Endpoint) => (request: ApiRequest) =>
  Effect.gen(function*() {
    const endpoints = yield* resolveEndpoints
    return yield* (yield* Api).call(pick(endpoints), request)
  })

/** A call to the Package Manager, ODGM or CRM of the current context. */
export const pm = callOn((e) => e.pm)
export const odgm = callOn((e) => e.odgm)
export const crm = callOn((e) => e.crm)

/** A path segment, escaped. */
export const seg = (s: string): string => encodeURIComponent(s)
