import type { ConnectRouter } from "@connectrpc/connect"
import type * as http from "node:http"
import { type Cause, Context, Effect, Exit, Layer } from "effect"
import { Health, prometheusText, recordHttp, withServerSpan } from "@oprc/observability"
import { DEFAULT_MAX_DEPTH } from "@oprc/models"
import { codeName, logIfInternal, mapCause, toJsonBody } from "../errors"
import { discardRest, isRefusal, makeBodyBudget, readBounded } from "./body"
import { makeConnectEdge } from "./connectEdge"
import { trackHttp1Request } from "./connections"
import { type Authorizer, type CallRunner, makeCallRunner } from "./CallRunner"
import { healthService } from "./health"
import { compileRoutes, DEFAULT_MAX_JSON_VALUES, type RestRequest, type RestRoute } from "./rest"
import type { RpcService } from "./rpcService"
import {
  drain,
  makeInFlight,
  makeServers,
  type NodeReq,
  type NodeRes,
  sendJson,
  sendResponse,
  ServerStartError,
  toWebHeaders,
} from "./transport"

export interface ServerOptions {
  readonly name: string
  readonly version: string
  readonly host: string
  /** 0 picks a free port (tests); the bound one is in ServerAddress. */
  readonly port: number
  readonly tls?: {
    readonly certFile: string
    readonly keyFile: string
    readonly caFile?: string | undefined
    readonly requireClientCert?: boolean | undefined
  } | undefined
  readonly bodyLimitBytes: number
  /** How long in-flight calls may take to finish after SIGTERM before connections are cut. */
  readonly shutdownGraceMs: number
  /** Edge limits (docs/operations.md, "Server limits"); each has a safe default. */
  readonly maxJsonDepth?: number | undefined
  readonly maxJsonValues?: number | undefined
  readonly headersTimeoutMs?: number | undefined
  readonly bodyTimeoutMs?: number | undefined
  readonly idleTimeoutMs?: number | undefined
  readonly maxConnections?: number | undefined
  readonly bodyBudgetBytes?: number | undefined
}

/** The limits with their defaults filled in (the same as the config defaults). */
export const serverLimits = (o: ServerOptions) => ({
  maxJsonDepth: o.maxJsonDepth ?? DEFAULT_MAX_DEPTH,
  maxJsonValues: o.maxJsonValues ?? DEFAULT_MAX_JSON_VALUES,
  headersTimeoutMs: o.headersTimeoutMs ?? 10_000,
  bodyTimeoutMs: o.bodyTimeoutMs ?? 30_000,
  idleTimeoutMs: o.idleTimeoutMs ?? 15_000,
  maxConnections: o.maxConnections ?? 1024,
  bodyBudgetBytes: o.bodyBudgetBytes ?? 64 * 1024 * 1024,
})

export interface ServerRoutes<R> {
  readonly rpc?: ReadonlyArray<RpcService<R>>
  readonly rest?: ReadonlyArray<RestRoute<R>>
  readonly authorize?: Authorizer
}

export { ServerStartError }

const emptyBody = new Uint8Array(0)
const hasNoBody = (req: NodeReq) =>
  (req.method === "GET" || req.method === "HEAD" || req.method === "DELETE") &&
  req.headers["content-length"] === undefined &&
  req.headers["transfer-encoding"] === undefined

const strictUtf8 = new TextDecoder("utf-8", { fatal: true })
const textType =
  /^(application\/(json|x-www-form-urlencoded|(x-)?yaml)|text\/[a-z0-9.+-]+|application\/[a-z0-9.-]+\+json)$/

/**
 * The REST body rules every route shares (whatever parses the body later): a JSON, YAML, form or
 * text body must be UTF-8 (not silently turned into U+FFFD); and curl's default form type is
 * read as JSON, since no oprc route takes form data (the header is rewritten once, here).
 */
const checkTextBody = (headers: Headers, body: Uint8Array): { readonly text?: string; readonly refused?: string } => {
  const type = headers.get("content-type")?.split(";")[0]?.trim().toLowerCase()
  if (type === undefined || !textType.test(type)) return {}
  if (type === "application/x-www-form-urlencoded") headers.set("content-type", "application/json")
  try {
    return { text: strictUtf8.decode(body) }
  } catch {
    return { refused: `request body is not valid UTF-8 (content-type ${type})` }
  }
}

/** Where the server actually listens. */
export class ServerAddress extends Context.Service<ServerAddress, { readonly port: number; readonly url: string }>()(
  "oprc/rpc/ServerAddress",
) {}

/**
 * One port for everything: gRPC (h2c or TLS h2), gRPC-Web and Connect over HTTP/1.1 and HTTP/2,
 * REST routes, /metrics, /healthz, /readyz. Plaintext connections are sniffed for the HTTP/2
 * preface (Bun's node:http2 has no h2c-upgrade-free allowHTTP1); TLS uses ALPN.
 */
export const serve = <R = never>(
  options: ServerOptions,
  routes: ServerRoutes<R>,
): Layer.Layer<ServerAddress, ServerStartError, R | Health> =>
  Layer.effect(ServerAddress)(
    Effect.gen(function*() {
      const health = yield* Health
      const base = yield* Effect.context<Health>()
      const services = routes.rpc ?? []
      const mounts: ReadonlyArray<(router: ConnectRouter, runner: CallRunner, base: Context.Context<never>) => void> =
        yield* Effect.forEach(
          [...services, healthService(services.map((s) => s.service.typeName))] as ReadonlyArray<
            RpcService<R | Health>
          >,
          (s) => s.mount,
        )
      const inFlight = makeInFlight()
      let draining = false
      const runner = makeCallRunner({
        authorize: routes.authorize,
        base: base as Context.Context<never>,
        // Calls are counted from their arrival (below), so one still sending its body counts too.
        onStart: () => undefined,
        onEnd: () => undefined,
      })
      const limits = serverLimits(options)
      const body = {
        maxBytes: options.bodyLimitBytes,
        timeoutMs: limits.bodyTimeoutMs,
        budget: makeBodyBudget(limits.bodyBudgetBytes),
      }
      const connectHandler = makeConnectEdge({
        routes: (router: ConnectRouter) =>
          mounts.forEach((mount) => mount(router, runner, base as Context.Context<never>)),
        body,
        maxJsonDepth: limits.maxJsonDepth,
        maxJsonValues: limits.maxJsonValues,
        fallback: (_req, res) => sendJson(res, 404, { error: { code: "not_found", message: "no such route" } }),
        // A client that leaves mid-call is routine (and a flood vector if logged loudly).
        onFailure: (procedure, reason, aborted) =>
          void runBase(
            aborted
              ? Effect.logDebug(`client left during ${procedure}`, String(reason))
              : Effect.logError(`writing the answer of ${procedure} failed`, reason),
          ),
      })
      const matchRest = compileRoutes(routes.rest ?? [])
      const restContext = Context.merge(base, yield* Effect.context<R>())
      const runBase = <A>(effect: Effect.Effect<A, never, Health>) =>
        Effect.runPromise(Effect.provideContext(effect, base))

      const handleRest = async (
        req: NodeReq,
        res: NodeRes,
        url: URL,
        match: Exclude<ReturnType<typeof matchRest>, undefined>,
      ) => {
        const method = req.method ?? "GET"
        const started = performance.now()
        inFlight.start()
        const finish = (route: string, status: number) =>
          runBase(recordHttp({ route, method, status, seconds: (performance.now() - started) / 1000 }))
        try {
          if (match === "method-not-allowed") {
            sendJson(res, 405, {
              error: { code: "unimplemented", message: `method ${method} not allowed on ${url.pathname}` },
            })
            await finish("method_not_allowed", 405)
            return
          }
          // GET/DELETE without a body skip the stream reading entirely.
          const read = hasNoBody(req) ? emptyBody : await readBounded(req, body)
          if (isRefusal(read)) {
            sendJson(
              res,
              read.status,
              { error: { code: codeName(read.code), message: read.message } },
              req.httpVersionMajor === 1,
            )
            discardRest(req)
            await finish(match.route.path, read.status)
            return
          }
          // Cancel the handler when the client goes away before the answer (not after it).
          const abort = new AbortController()
          let answered = false
          res.on("close", () => answered || abort.abort())
          const headers = toWebHeaders(req.headers)
          const checked = checkTextBody(headers, read)
          if (checked.refused !== undefined) {
            sendJson(res, 400, { error: { code: "invalid_argument", message: checked.refused } })
            await finish(match.route.path, 400)
            return
          }
          const request: RestRequest = {
            method,
            route: match.route.path,
            path: url.pathname,
            params: match.params,
            query: url.searchParams,
            headers,
            body: read,
            ...(checked.text === undefined ? {} : { text: checked.text }),
            signal: abort.signal,
            maxJsonDepth: limits.maxJsonDepth,
            maxJsonValues: limits.maxJsonValues,
          }
          const procedure = `${method} ${match.route.path}`
          const guard = routes.authorize ? routes.authorize({ procedure, headers }) : Effect.void
          const program = withServerSpan(
            `http ${procedure}`,
            headers,
            { "http.method": method, "http.route": match.route.path },
            Effect.andThen(guard, match.route.handler(request)),
          ).pipe(Effect.provideContext(restContext))
          // The success path writes the response and records metrics inside the same run.
          const exit = await Effect.runPromiseExit(
            Effect.tap(program, (r) =>
              Effect.andThen(
                Effect.sync(() => {
                  answered = true
                  sendResponse(res, r)
                }),
                recordHttp({
                  route: match.route.path,
                  method,
                  status: r.status,
                  seconds: (performance.now() - started) / 1000,
                }),
              )),
            { signal: abort.signal },
          )
          if (Exit.isSuccess(exit)) return
          {
            const mapped = mapCause(exit.cause)
            await runBase(logIfInternal(mapped, exit.cause as Cause.Cause<unknown>, procedure))
            answered = true
            sendJson(res, mapped.status, toJsonBody(mapped))
            await finish(match.route.path, mapped.status)
          }
        } finally {
          inFlight.end()
        }
      }

      const handler = (req: NodeReq, res: NodeRes) => {
        // Hot path: RPCs go straight to the Connect router without URL parsing or promise hops.
        const raw = req.url ?? "/"
        const q = raw.indexOf("?")
        const pathname = q === -1 ? raw : raw.slice(0, q)
        if (req.httpVersionMajor === 1) {
          trackHttp1Request(req as http.IncomingMessage, res as unknown as http.ServerResponse, limits)
        }
        if (draining && req.httpVersionMajor === 1) {
          res.setHeader("connection", "close")
        }
        if (pathname === "/healthz") {
          return sendJson(res, 200, { status: "ok", name: options.name, version: options.version })
        }
        if (pathname === "/readyz") {
          return void runBase(health.readiness).then((r) => sendJson(res, r.ready ? 200 : 503, r))
        }
        if (pathname === "/metrics") {
          return void runBase(prometheusText).then((text) => {
            res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" })
            res.end(text)
          })
        }
        const match = matchRest(req.method ?? "GET", pathname)
        if (match === undefined) {
          inFlight.start()
          res.on("close", inFlight.end)
          return connectHandler(req, res, pathname)
        }
        void handleRest(req, res, new URL(raw, "http://localhost"), match).then(
          () => undefined,
          (e) => {
            void runBase(Effect.logError("request failed", e))
            if (!res.headersSent) sendJson(res, 500, { error: { code: "internal", message: "internal error" } })
          },
        )
      }

      const servers = yield* makeServers(options, limits, handler)
      const port = yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: () => servers.listen(),
          catch: (e) =>
            new ServerStartError({
              reason: `cannot listen on ${options.host}:${options.port}: ${e instanceof Error ? e.message : String(e)}`,
            }),
        }),
        () =>
          Effect.gen(function*() {
            draining = true
            yield* health.setDraining
            yield* Effect.promise(() => drain(servers, inFlight, options.shutdownGraceMs))
            yield* Effect.logInfo(`${options.name} stopped serving`)
          }),
      )
      const scheme = options.tls ? "https" : "http"
      const shownHost = options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host
      yield* Effect.logInfo(`${options.name} ${options.version} listening on ${scheme}://${options.host}:${port}`)
      return { port, url: `${scheme}://${shownHost}:${port}` }
    }),
  )
