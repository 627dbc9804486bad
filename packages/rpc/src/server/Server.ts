import { Context, Effect, Layer } from "effect"
import { Health, prometheusText } from "@oprc/observability"
import { DEFAULT_MAX_DEPTH, LARGE_INPUT_BYTES } from "@oprc/models"
import { makeBodyBudget } from "./body"
import { makeHeavyLane } from "./heavyLane"
import { makeConnectEdge, makeRouter } from "./connectEdge"
import { makeConnectFetch } from "./connectFetch"
import { type Authorizer, makeCallRunner } from "./CallRunner"
import { type EdgeParts, makeFetchHandler, makeLocalServe } from "./fetchEdge"
import { healthService } from "./health"
import { makeNodeHandler } from "./nodeEdge"
import { compileRoutes, DEFAULT_MAX_JSON_VALUES, type RestRoute } from "./rest"
import { makeRestEdge } from "./restEdge"
import type { DirectUnary, RpcService } from "./rpcService"
import { drain, makeInFlight, makeServers, sendJson, ServerStartError } from "./transport"

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

/** Where the server actually listens. */
export class ServerAddress extends Context.Service<ServerAddress, { readonly port: number; readonly url: string }>()(
  "oprc/rpc/ServerAddress",
) {}

/**
 * One port for everything: gRPC (h2c or TLS h2), gRPC-Web and Connect over HTTP/1.1 and HTTP/2,
 * REST routes, /metrics, /healthz, /readyz. Plaintext connections are sniffed for the HTTP/2
 * preface by the front (front.ts): HTTP/1.1 goes to Bun.serve (fetchEdge.ts), h2c to node:http2
 * (nodeEdge.ts); TLS is one node:http2 server with ALPN.
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
      const mounts = yield* Effect.forEach(
        [...services, healthService(services.map((s) => s.service.typeName))] as ReadonlyArray<
          RpcService<R | Health>
        >,
        (s) => s.mount,
      )
      const inFlight = makeInFlight()
      let draining = false
      // (Calls are counted in flight from their arrival, in the edges: one still sending its body counts too.)
      const runner = makeCallRunner({ authorize: routes.authorize })
      const limits = serverLimits(options)
      const body = {
        maxBytes: options.bodyLimitBytes,
        timeoutMs: limits.bodyTimeoutMs,
        budget: makeBodyBudget(limits.bodyBudgetBytes),
        // Bodies waiting for the lane may hold as much as the bodies being read.
        lane: makeHeavyLane({ thresholdBytes: LARGE_INPUT_BYTES, maxWaitingBytes: limits.bodyBudgetBytes }),
      }
      const runBase = <A>(effect: Effect.Effect<A, never, Health>) =>
        Effect.runPromise(Effect.provideContext(effect, base))
      const router = makeRouter(options.bodyLimitBytes)
      const direct = new Map<string, DirectUnary>()
      for (const mount of mounts) mount(router, runner, base as Context.Context<never>, direct)
      // A client that leaves mid-call is routine (and a flood vector if logged loudly).
      const onFailure = (procedure: string, reason: unknown, aborted: boolean) =>
        void runBase(
          aborted
            ? Effect.logDebug(`client left during ${procedure}`, String(reason))
            : Effect.logError(`writing the answer of ${procedure} failed`, reason),
        )
      const connect = {
        handlers: router.handlers,
        body,
        maxJsonDepth: limits.maxJsonDepth,
        maxJsonValues: limits.maxJsonValues,
        onFailure,
      }
      const parts: EdgeParts<R> = {
        limits,
        body,
        inFlight,
        rest: makeRestEdge({
          authorize: routes.authorize,
          context: Context.merge(base, yield* Effect.context<R>()),
          runBase,
          maxJsonDepth: limits.maxJsonDepth,
          maxJsonValues: limits.maxJsonValues,
          lane: body.lane,
        }),
        matchRest: compileRoutes(routes.rest ?? []),
        draining: () => draining,
        healthz: { status: "ok", name: options.name, version: options.version },
        readyz: () => runBase(health.readiness),
        metrics: () => runBase(prometheusText),
        runBase,
        connectNode: makeConnectEdge({
          ...connect,
          fallback: (_req, res) => sendJson(res, 404, { error: { code: "not_found", message: "no such route" } }),
        }),
        connectFetch: makeConnectFetch({ ...connect, direct }),
      }

      const servers = yield* makeServers(options, limits, makeNodeHandler(parts), makeFetchHandler(parts), {
        serve: makeLocalServe(parts),
        // Large bodies take Bun.serve's path: the heavy lane, the memory budget, stepped decoding.
        maxBodyBytes: LARGE_INPUT_BYTES,
        onFailure: (reason) => void runBase(Effect.logError("request failed", reason)),
      })
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
