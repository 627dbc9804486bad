import { Effect } from "effect"
import { type BodyLimits, isRefusal } from "./body"
import { readFetchBody } from "./fetchBody"
import type { compileRoutes } from "./rest"
import { errorAnswer, type makeRestEdge, plainRest, refusalAnswer, toFetchResponse } from "./restEdge"
import type { InFlight, NodeReq, NodeRes } from "./transport"
import type { serverLimits } from "./Server"
import type { makeConnectFetch } from "./connectFetch"
import type { LocalRequest, LocalServe } from "./frontLocal"
import type { PlainAnswer } from "./plainAnswer"

/**
 * The Bun.serve side of the one-port server: every plaintext HTTP/1.1 request (the front hands
 * the connection over on a unix socket). Health, readiness and metrics, REST routes through the
 * shared REST edge, Connect through connectFetch.ts. Connection limits and timers (header, idle,
 * 100-continue, max connections) are the front's (front.ts); the body timer is the reader's.
 */

/** What the node:http2 side and the Bun.serve side of one server share. */
export interface EdgeParts<R> {
  readonly limits: ReturnType<typeof serverLimits>
  readonly body: BodyLimits
  readonly inFlight: InFlight
  readonly rest: ReturnType<typeof makeRestEdge<R>>
  readonly matchRest: ReturnType<typeof compileRoutes<R>>
  readonly draining: () => boolean
  readonly healthz: { readonly status: "ok"; readonly name: string; readonly version: string }
  readonly readyz: () => Promise<{ readonly ready: boolean }>
  readonly metrics: () => Promise<string>
  readonly runBase: (effect: Effect.Effect<void>) => Promise<void>
  readonly connectNode: (req: NodeReq, res: NodeRes, pathname: string) => void
  readonly connectFetch: ReturnType<typeof makeConnectFetch>
}

/** `work()`, counted in flight until its answer (at once, or when its promise settles). */
const inFlightWhile = <T>(inFlight: InFlight, work: () => T): T => {
  inFlight.start()
  let answer: T
  try {
    answer = work()
  } catch (e) {
    inFlight.end()
    throw e
  }
  if (!(answer instanceof Promise)) {
    inFlight.end()
    return answer
  }
  return answer.then((a: unknown) => {
    inFlight.end()
    return a
  }, (e: unknown) => {
    inFlight.end()
    throw e
  }) as T
}

const jsonHeaders = { "content-type": "application/json" }
const jsonClose = { "content-type": "application/json", connection: "close" }
const metricsType = "text/plain; version=0.0.4; charset=utf-8"

export const makeFetchHandler = <R>(parts: EdgeParts<R>) => {
  const { inFlight, rest } = parts
  const healthz = JSON.stringify(parts.healthz)

  const handleRest = async (
    req: Request,
    pathname: string,
    search: string,
    match: Exclude<ReturnType<typeof parts.matchRest>, undefined>,
  ): Promise<Response> => {
    const started = performance.now()
    const method = req.method
    inFlight.start()
    try {
      if (match === "method-not-allowed") {
        rest.record("method_not_allowed", method, 405, started)
        return toFetchResponse(
          errorAnswer(405, "unimplemented", `method ${method} not allowed on ${pathname}`),
          parts.draining(),
        )
      }
      const read = await readFetchBody(req, parts.body)
      if (isRefusal(read)) {
        rest.record(match.route.path, method, read.status, started)
        return toFetchResponse(refusalAnswer(read), true)
      }
      const answer = rest.run(match, {
        method,
        pathname,
        search,
        headers: req.headers,
        body: read,
        signal: () => req.signal,
        started,
      })
      return toFetchResponse(answer instanceof Promise ? await answer : answer, parts.draining())
    } catch (e) {
      void parts.runBase(Effect.logError("request failed", e))
      return toFetchResponse(errorAnswer(500, "internal", "internal error"), parts.draining())
    } finally {
      inFlight.end()
    }
  }

  const connect = (req: Request, pathname: string) =>
    inFlightWhile(inFlight, () => parts.connectFetch.fetch(req, pathname, parts.draining()))

  return (req: Request): Response | Promise<Response> => {
    // "http://host/path?query": the path starts at the first "/" after the scheme's "//".
    const url = req.url
    const start = url.indexOf("/", url.indexOf("//") + 2)
    const q = url.indexOf("?", start)
    const pathname = start === -1 ? "/" : q === -1 ? url.slice(start) : url.slice(start, q)
    if (pathname === "/healthz") {
      return new Response(healthz, { headers: parts.draining() ? jsonClose : jsonHeaders })
    }
    if (pathname === "/readyz") {
      return parts.readyz().then((r) =>
        new Response(JSON.stringify(r), { status: r.ready ? 200 : 503, headers: jsonHeaders })
      )
    }
    if (pathname === "/metrics") {
      return parts.metrics().then((text) => new Response(text, { headers: { "content-type": metricsType } }))
    }
    const match = parts.matchRest(req.method, pathname)
    if (match === undefined) return connect(req, pathname)
    return handleRest(req, pathname, q === -1 ? "" : url.slice(q), match)
  }
}

/**
 * What the front answers itself on an HTTP/1.1 connection (frontLocal.ts): /healthz, REST routes
 * and unary Connect calls on the direct path, each through the same edge as on Bun.serve.
 * Everything else (readiness, metrics, connect-es's protocols, methods not allowed) is left to
 * Bun.serve.
 */
export const makeLocalServe = <R>(parts: EdgeParts<R>): LocalServe => {
  const { inFlight, rest } = parts
  const healthAnswer: PlainAnswer = { status: 200, headers: jsonHeaders, body: JSON.stringify(parts.healthz) }

  return (req: LocalRequest) => {
    const { pathname, method } = req
    if (pathname === "/healthz" && method === "GET") return healthAnswer
    const match = parts.matchRest(method, pathname)
    if (match === "method-not-allowed") return undefined
    if (match === undefined) return inFlightWhile(inFlight, () => parts.connectFetch.local(req))
    return inFlightWhile(inFlight, () => {
      const answer = rest.run(match, {
        method,
        pathname,
        search: req.search,
        get headers() {
          return req.headers
        },
        fields: req.fields,
        body: req.body,
        signal: req.signal,
        onGone: req.onGone,
        started: performance.now(),
      })
      return answer instanceof Promise ? answer.then(plainRest) : plainRest(answer)
    })
  }
}
