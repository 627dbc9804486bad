import { type Cause, type Context, Effect, Exit } from "effect"
import { countHttp, withServerSpan } from "@oprc/observability"
import { codeName, logIfInternal, mapCause, toJsonBody } from "../errors"
import { restJson } from "./answerCache"
import { type BodyRefusal, laneBusy } from "./body"
import type { HeavyLane } from "./heavyLane"
import { type AbortHook, authorized, type Authorizer, exitNow, signalHook } from "./CallRunner"
import { type PlainAnswer, toResponse } from "./plainAnswer"
import type { compileRoutes, RestRequest, RestResponse } from "./rest"

/**
 * REST calls, whatever carries them (Bun.serve for HTTP/1.1, node:http2 for h2c and TLS): the
 * shared body rules, the authorizer, a server span, the handler, metrics and the edge error
 * mapper. The transports only read the body and write the answer.
 */

export type RestMatch<R> = Exclude<ReturnType<ReturnType<typeof compileRoutes<R>>>, "method-not-allowed" | undefined>

const strictUtf8 = new TextDecoder("utf-8", { fatal: true })
const textType =
  /^(application\/(json|x-www-form-urlencoded|(x-)?yaml)|text\/[a-z0-9.+-]+|application\/[a-z0-9.-]+\+json)$/

/**
 * The REST body rules every route shares (whatever parses the body later): a JSON, YAML, form or
 * text body must be UTF-8 (not silently turned into U+FFFD); and curl's default form type is
 * read as JSON, since no oprc route takes form data (the header is rewritten once, here).
 */
const checkTextBody = (
  contentType: string | null | undefined,
  body: Uint8Array,
): { readonly text?: string; readonly refused?: string; readonly asJson?: true } => {
  const type = contentType?.split(";")[0]?.trim().toLowerCase()
  if (type === undefined || !textType.test(type)) return {}
  const asJson = type === "application/x-www-form-urlencoded" ? { asJson: true as const } : {}
  try {
    return { text: body.length === 0 ? "" : strictUtf8.decode(body), ...asJson }
  } catch {
    return { refused: `request body is not valid UTF-8 (content-type ${type})`, ...asJson }
  }
}

/** The headers a handler sees: curl's default form type is read as JSON. */
const asJsonHeaders = (headers: Headers) => {
  const out = new Headers(headers)
  out.set("content-type", "application/json")
  return out
}

export const errorAnswer = (status: number, code: string, message: string): RestResponse => ({
  status,
  body: { error: { code, message } },
})

export const refusalAnswer = (r: BodyRefusal): RestResponse => errorAnswer(r.status, codeName(r.code), r.message)

export interface RestCall {
  readonly method: string
  readonly pathname: string
  readonly search: string
  readonly headers: Headers
  /** The same headers by lower-case name, when the transport has them so (`headers` is then built on use). */
  readonly fields?: Readonly<Record<string, string>> | undefined
  readonly body: Uint8Array
  /** Read only when a handler asks for it (Bun makes a request's signal lazily). */
  readonly signal: () => AbortSignal
  /** Registered when the handler waits (the front's own connections); else `signal` is listened to. */
  readonly onGone?: AbortHook | undefined
  /** performance.now() when the request arrived (for the duration metric). */
  readonly started: number
}

export const makeRestEdge = <R>(options: {
  readonly authorize: Authorizer | undefined
  readonly context: Context.Context<R>
  readonly runBase: (effect: Effect.Effect<void>) => Promise<void>
  readonly maxJsonDepth: number
  readonly maxJsonValues: number
  readonly lane: HeavyLane
}) => {
  const record = (route: string, method: string, status: number, started: number): void =>
    countHttp({ route, method, status, seconds: (performance.now() - started) / 1000 })

  const run = (match: RestMatch<R>, call: RestCall): RestResponse | Promise<RestResponse> =>
    options.lane.run(call.body.length, () => handle(match, call), () => {
      record(match.route.path, call.method, laneBusy.status, call.started)
      return refusalAnswer(laneBusy)
    })

  /** Without a promise when the handler answers without waiting. */
  const handle = (match: RestMatch<R>, call: RestCall): RestResponse | Promise<RestResponse> => {
    const route = match.route.path
    const fields = call.fields
    const checked = checkTextBody(
      fields === undefined ? call.headers.get("content-type") : fields["content-type"],
      call.body,
    )
    if (checked.refused !== undefined) {
      record(route, call.method, 400, call.started)
      return errorAnswer(400, "invalid_argument", checked.refused)
    }
    let headers: Headers | undefined
    const headersOf = () => headers ??= checked.asJson ? asJsonHeaders(call.headers) : call.headers
    let query: URLSearchParams | undefined
    const request: RestRequest = {
      method: call.method,
      route,
      path: call.pathname,
      params: match.params,
      // Built on first use: most GETs of one resource never read a parameter.
      get query() {
        return query ??= new URLSearchParams(call.search)
      },
      get headers() {
        return headersOf()
      },
      // (Not when curl's form type is read as JSON: `headers` has the rewritten content-type.)
      fields: checked.asJson ? undefined : fields,
      header: fields === undefined || checked.asJson
        ? (name) => headersOf().get(name)
        : (name) => fields[name] ?? null,
      body: call.body,
      ...(checked.text === undefined ? {} : { text: checked.text }),
      get signal() {
        return call.signal()
      },
      maxJsonDepth: options.maxJsonDepth,
      maxJsonValues: options.maxJsonValues,
    }
    const procedure = `${call.method} ${route}`
    // (The handler runs inside the fiber, as RPC handlers do: see rpcService.ts.)
    const program = withServerSpan(
      `http ${procedure}`,
      fields ?? headersOf(),
      { "http.method": call.method, "http.route": route },
      authorized(options.authorize, {
        procedure,
        get headers() {
          return headersOf()
        },
        // (The authorizer never reads content-type, the one field `headersOf` may rewrite.)
        fields,
      }, Effect.suspend(() => match.route.handler(request))),
    ).pipe(Effect.provideContext(options.context))
    const settle = (exit: Exit.Exit<RestResponse, unknown>): RestResponse | Promise<RestResponse> => {
      if (Exit.isSuccess(exit)) {
        record(route, call.method, exit.value.status, call.started)
        return exit.value
      }
      const mapped = mapCause(exit.cause)
      record(route, call.method, mapped.status, call.started)
      const answer = { status: mapped.status, body: toJsonBody(mapped) }
      return options.runBase(logIfInternal(mapped, exit.cause as Cause.Cause<unknown>, procedure)).then(() => answer)
    }
    const exit = exitNow(program, call.onGone ?? signalHook(call.signal))
    return exit instanceof Promise ? exit.then(settle) : settle(exit)
  }

  return { run, record }
}

const jsonHeaders = { "content-type": "application/json" }

/** A REST answer in transport-neutral form ("connection: close" is the transport's to add). */
export const plainRest = (r: RestResponse): PlainAnswer => {
  if (r.raw !== undefined) {
    return { status: r.status, headers: { "content-type": r.raw.contentType, ...r.headers }, body: r.raw.data }
  }
  if (r.body === undefined) return { status: r.status, headers: r.headers ?? {}, body: null }
  return {
    status: r.status,
    headers: r.headers === undefined ? jsonHeaders : { ...jsonHeaders, ...r.headers },
    body: restJson(r.body),
  }
}

/** A REST answer as a fetch Response (Bun.serve); `close` ends the keep-alive connection. */
export const toFetchResponse = (r: RestResponse, close: boolean): Response => toResponse(plainRest(r), close)
