import * as fs from "node:fs"
import * as http from "node:http"
import * as http2 from "node:http2"
import * as net from "node:net"
import { connectNodeAdapter } from "@connectrpc/connect-node"
import type { ConnectRouter } from "@connectrpc/connect"
import { Cause, Context, Effect, Exit, Layer, Schema } from "effect"
import { Health, prometheusText, recordHttp, withServerSpan } from "@oprc/observability"
import { PayloadTooLarge } from "@oprc/models"
import { codeName, logIfInternal, mapCause, mapFailure, toJsonBody } from "../errors"
import { type Authorizer, type CallRunner, makeCallRunner } from "./CallRunner"
import { healthService } from "./health"
import { compileRoutes, type RestRequest, type RestResponse, type RestRoute } from "./rest"
import type { RpcService } from "./rpcService"

export interface ServerOptions {
  readonly name: string
  readonly version: string
  readonly host: string
  /** 0 picks a free port (tests); the bound one is in ServerAddress. */
  readonly port: number
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile?: string | undefined; readonly requireClientCert?: boolean | undefined } | undefined
  readonly bodyLimitBytes: number
  /** How long in-flight calls may take to finish after SIGTERM before connections are cut. */
  readonly shutdownGraceMs: number
}

export interface ServerRoutes<R> {
  readonly rpc?: ReadonlyArray<RpcService<R>>
  readonly rest?: ReadonlyArray<RestRoute<R>>
  readonly authorize?: Authorizer
}

/** Where the server actually listens. */
export class ServerAddress extends Context.Service<ServerAddress, { readonly port: number; readonly url: string }>()(
  "oprc/rpc/ServerAddress",
) {}

export class ServerStartError extends Schema.TaggedError<ServerStartError>()("ServerStartError", {
  reason: Schema.String,
}) {}

type NodeReq = http.IncomingMessage | http2.Http2ServerRequest
/** The part of http/http2 responses used here (their full union has incompatible overloads). */
interface NodeRes {
  readonly headersSent: boolean
  writeHead(status: number, headers?: Record<string, string>): unknown
  end(data?: string | Uint8Array): unknown
  setHeader(name: string, value: string): unknown
  on(event: "close", listener: () => void): unknown
}

/**
 * One port for everything: gRPC (h2c or TLS h2), gRPC-Web and Connect over HTTP/1.1 and HTTP/2,
 * REST routes, /metrics, /healthz, /readyz. Plaintext connections are sniffed for the HTTP/2
 * preface (Bun's node:http2 has no h2c-upgrade-free allowHTTP1); TLS uses ALPN.
 */
export const serve = <R = never>(options: ServerOptions, routes: ServerRoutes<R>): Layer.Layer<ServerAddress, ServerStartError, R | Health> =>
  Layer.effect(ServerAddress)(
    Effect.gen(function* () {
      const health = yield* Health
      const base = yield* Effect.context<Health>()
      const services = routes.rpc ?? []
      const mounts: ReadonlyArray<(router: ConnectRouter, runner: CallRunner, base: Context.Context<never>) => void> = yield* Effect.forEach(
        [...services, healthService(services.map((s) => s.service.typeName))] as ReadonlyArray<RpcService<R | Health>>,
        (s) => s.mount,
      )
      let inFlight = 0
      let draining = false
      const runner = makeCallRunner({
        authorize: routes.authorize,
        base: base as Context.Context<never>,
        onStart: () => void inFlight++,
        onEnd: () => void inFlight--,
      })
      const connectHandler = connectNodeAdapter({
        routes: (router: ConnectRouter) => mounts.forEach((mount) => mount(router, runner, base as Context.Context<never>)),
        readMaxBytes: options.bodyLimitBytes,
        fallback: (_req, res) => sendJson(res as unknown as NodeRes, 404, { error: { code: "not_found", message: "no such route" } }),
      })
      const matchRest = compileRoutes(routes.rest ?? [])
      const restContext = Context.merge(base, yield* Effect.context<R>())
      const runBase = <A>(effect: Effect.Effect<A, never, Health>) => Effect.runPromise(Effect.provideContext(effect, base))

      const handleRest = async (
        req: NodeReq,
        res: NodeRes,
        url: URL,
        match: Exclude<ReturnType<typeof matchRest>, undefined>,
      ) => {
        const method = req.method ?? "GET"
        const started = performance.now()
        inFlight++
        const finish = (route: string, status: number) =>
          runBase(recordHttp({ route, method, status, seconds: (performance.now() - started) / 1000 }))
        try {
          if (match === "method-not-allowed") {
            sendJson(res, 405, { error: { code: "unimplemented", message: `method ${method} not allowed on ${url.pathname}` } })
            await finish("method_not_allowed", 405)
            return
          }
          const body = await readLimited(req, options.bodyLimitBytes)
          if (body === "too-large") {
            const mapped = mapFailure(new PayloadTooLarge({ limitBytes: options.bodyLimitBytes }))
            sendJson(res, 413, toJsonBody(mapped), true)
            await finish(match.route.path, 413)
            return
          }
          const abort = new AbortController()
          res.on("close", () => abort.abort())
          const headers = toWebHeaders(req.headers)
          const request: RestRequest = {
            method,
            route: match.route.path,
            path: url.pathname,
            params: match.params,
            query: url.searchParams,
            headers,
            body,
            signal: abort.signal,
          }
          const procedure = `${method} ${match.route.path}`
          const guard = routes.authorize ? routes.authorize({ procedure, headers }) : Effect.void
          const program = withServerSpan(
            `http ${procedure}`,
            headers,
            { "http.method": method, "http.route": match.route.path },
            Effect.andThen(guard, match.route.handler(request)),
          ).pipe(Effect.provideContext(restContext))
          const exit = await Effect.runPromiseExit(program, { signal: abort.signal })
          if (Exit.isSuccess(exit)) {
            sendResponse(res, exit.value)
            await finish(match.route.path, exit.value.status)
          } else {
            const mapped = mapCause(exit.cause)
            await runBase(logIfInternal(mapped, exit.cause as Cause.Cause<unknown>, procedure))
            sendJson(res, mapped.status, toJsonBody(mapped))
            await finish(match.route.path, mapped.status)
          }
        } finally {
          inFlight--
        }
      }

      const handler = (req: NodeReq, res: NodeRes) => {
        // Hot path: RPCs go straight to the Connect router without URL parsing or promise hops.
        const raw = req.url ?? "/"
        const q = raw.indexOf("?")
        const pathname = q === -1 ? raw : raw.slice(0, q)
        if (draining && req.httpVersionMajor === 1) res.setHeader("connection", "close")
        if (pathname === "/healthz") return sendJson(res, 200, { status: "ok", name: options.name, version: options.version })
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
        if (match === undefined) return (connectHandler as unknown as (req: NodeReq, res: NodeRes) => void)(req, res)
        void handleRest(req, res, new URL(raw, "http://localhost"), match).then(
          () => undefined,
          (e) => {
            void runBase(Effect.logError("request failed", e))
            if (!res.headersSent) sendJson(res, 500, { error: { code: "internal", message: "internal error" } })
          },
        )
      }

      const servers = yield* makeServers(options, handler)
      const port = yield* Effect.acquireRelease(
        Effect.callback<number, ServerStartError>((resume) => {
          servers.front.once("error", (e) => resume(Effect.fail(new ServerStartError({ reason: `cannot listen on ${options.host}:${options.port}: ${e.message}` }))))
          servers.front.listen(options.port, options.host, () => {
            const address = servers.front.address()
            resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : options.port))
          })
        }),
        () =>
          Effect.gen(function* () {
            draining = true
            yield* health.setDraining
            yield* Effect.promise(() => drain(servers, () => inFlight, options.shutdownGraceMs))
            yield* Effect.logInfo(`${options.name} stopped serving`)
          }),
      )
      const scheme = options.tls ? "https" : "http"
      const shownHost = options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host
      yield* Effect.logInfo(`${options.name} ${options.version} listening on ${scheme}://${options.host}:${port}`)
      return { port, url: `${scheme}://${shownHost}:${port}` }
    }),
  )

interface Servers {
  readonly front: net.Server
  readonly sockets: Set<net.Socket>
  readonly sessions: Set<http2.Http2Session>
}

const makeServers = (options: ServerOptions, handleAny: (req: NodeReq, res: NodeRes) => void) =>
  Effect.try({
    try: (): Servers => {
      // One handler serves both protocols; it only uses what their request/response types share.
      const handler = handleAny as unknown as http.RequestListener & ((req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void)
      const sockets = new Set<net.Socket>()
      const sessions = new Set<http2.Http2Session>()
      const track = (s: net.Socket) => {
        sockets.add(s)
        s.once("close", () => sockets.delete(s))
      }
      if (options.tls) {
        const secure = http2.createSecureServer(
          {
            cert: fs.readFileSync(options.tls.certFile),
            key: fs.readFileSync(options.tls.keyFile),
            ...(options.tls.caFile ? { ca: fs.readFileSync(options.tls.caFile) } : {}),
            requestCert: options.tls.requireClientCert ?? false,
            rejectUnauthorized: options.tls.requireClientCert ?? false,
            allowHTTP1: true,
          },
          handler,
        )
        secure.on("session", (s) => {
          sessions.add(s)
          s.once("close", () => sessions.delete(s))
        })
        secure.on("secureConnection", track)
        return { front: secure as unknown as net.Server, sockets, sessions }
      }
      const h1 = http.createServer(handler)
      const h2 = http2.createServer(handler)
      h2.on("session", (s) => {
        sessions.add(s)
        s.once("close", () => sessions.delete(s))
      })
      // The HTTP/2 client preface starts with "PRI * HTTP/2.0"; anything else is HTTP/1.x.
      const front = net.createServer((socket) => {
        track(socket)
        let head = Buffer.alloc(0)
        const onData = (chunk: Buffer) => {
          head = Buffer.concat([head, chunk])
          if (head.length < 3) return
          socket.off("data", onData)
          socket.pause()
          socket.unshift(head)
          ;(head.toString("latin1", 0, 3) === "PRI" ? h2 : h1).emit("connection", socket)
          socket.resume()
        }
        socket.on("data", onData)
        socket.on("error", () => socket.destroy())
      })
      return { front, sockets, sessions }
    },
    catch: (e) => new ServerStartError({ reason: `cannot start server: ${e instanceof Error ? e.message : String(e)}` }),
  })

/** Stop accepting, let in-flight calls finish (bounded by the grace period), then cut the rest. */
const drain = async (servers: Servers, inFlight: () => number, graceMs: number) => {
  const closed = new Promise<void>((resolve) => servers.front.close(() => resolve()))
  for (const s of servers.sessions) s.close()
  const deadline = Date.now() + graceMs
  while (inFlight() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  for (const s of servers.sessions) s.destroy()
  for (const s of servers.sockets) s.destroy()
  await Promise.race([closed, new Promise((r) => setTimeout(r, 200))])
}


const readLimited = (req: NodeReq, limit: number): Promise<Uint8Array | "too-large"> =>
  new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? "0")
    if (declared > limit) {
      req.resume()
      return resolve("too-large")
    }
    const chunks: Array<Buffer> = []
    let size = 0
    let over = false
    req.on("data", (c: Buffer) => {
      if (over) return
      size += c.length
      if (size > limit) {
        over = true
        return resolve("too-large")
      }
      chunks.push(c)
    })
    req.on("end", () => over || resolve(new Uint8Array(Buffer.concat(chunks))))
    req.on("error", reject)
  })

const toWebHeaders = (h: http.IncomingHttpHeaders): Headers => {
  const out = new Headers()
  for (const [k, v] of Object.entries(h)) {
    if (k.startsWith(":") || v === undefined) continue
    if (Array.isArray(v)) v.forEach((x) => out.append(k, x))
    else out.set(k, v)
  }
  return out
}

const sendJson = (res: NodeRes, status: number, body: unknown, close = false) => {
  if (res.headersSent) return void res.end()
  const text = JSON.stringify(body, jsonReplacer)
  const headers: Record<string, string> = { "content-type": "application/json" }
  if (close) headers.connection = "close"
  res.writeHead(status, headers)
  res.end(text)
}

const sendResponse = (res: NodeRes, r: RestResponse) => {
  if (r.raw !== undefined) {
    res.writeHead(r.status, { "content-type": r.raw.contentType, ...r.headers })
    return void res.end(r.raw.data)
  }
  if (r.body === undefined) {
    res.writeHead(r.status, { ...r.headers })
    return void res.end()
  }
  res.writeHead(r.status, { "content-type": "application/json", ...r.headers })
  res.end(JSON.stringify(r.body, jsonReplacer))
}

/** bigint (uint64 versions) is written as a JSON string, as protobuf's JSON mapping does. */
const jsonReplacer = (_key: string, value: unknown) => (typeof value === "bigint" ? value.toString() : value)

export { codeName }
