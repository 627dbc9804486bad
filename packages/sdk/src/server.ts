import { Effect, Layer, References } from "effect"
import { functionv1 } from "@oprc/proto"
import { Telemetry } from "@oprc/observability"
import { rpcService, serve as serveRpc, startServer, VERSION } from "@oprc/rpc"
import type { ClassDef, StateSchema } from "./define.ts"
import { makeInvoke } from "./handler.ts"
import { makeOdgmClient } from "./odgm.ts"

export interface ServeOptions {
  /** Default: `PORT` from the environment, else 8080. 0 picks a free port. */
  readonly port?: number
  /** Default: `HOST`, else 0.0.0.0. */
  readonly host?: string
  /** ODGM's URL for `ctx.odgm`. Default: `ODGM_URL`. */
  readonly odgmUrl?: string
  /** Sent as `x-oprc-internal-token` on calls to ODGM. Default: `OPRC_INTERNAL_TOKEN`. */
  readonly internalToken?: string
  /** This class's credential (reaches PRIVATE functions of the class). Default: `OPRC_CALLER_TOKEN`, set by the CRM. */
  readonly callerToken?: string
  /** Largest accepted request, bytes (default 4 MiB). */
  readonly readMaxBytes?: number
  /** Log one line when listening (default true). */
  readonly quiet?: boolean
}

export interface FunctionServer {
  readonly port: number
  readonly url: string
  readonly close: () => Promise<void>
}

/**
 * Serves a class's functions as `oprc.function.v1.FunctionService` on the platform's one-port
 * server (@oprc/rpc): gRPC (h2c), gRPC-Web and Connect over HTTP/1.1 and HTTP/2, plus `/healthz`,
 * `/readyz`, `/metrics` and graceful drain. This is the entry point of a function process, so it
 * reads PORT, HOST, ODGM_URL, OPRC_INTERNAL_TOKEN and OPRC_CALLER_TOKEN from the environment.
 */
export const serve = async <S extends StateSchema>(
  def: ClassDef<S>,
  options: ServeOptions = {},
): Promise<FunctionServer> => {
  const env = process.env
  const port = options.port ?? (env.PORT ? Number(env.PORT) : 8080)
  const host = options.host ?? env.HOST ?? "0.0.0.0"
  const odgmUrl = options.odgmUrl ?? env.ODGM_URL
  const token = options.internalToken ?? env.OPRC_INTERNAL_TOKEN
  const callerToken = options.callerToken ?? env.OPRC_CALLER_TOKEN
  const odgm = odgmUrl
    ? makeOdgmClient({
      baseUrl: odgmUrl,
      ...(token ? { internalToken: token } : {}),
      ...(callerToken ? { callerToken } : {}),
    })
    : undefined
  const invoke = makeInvoke(def, odgm)

  const functionService = rpcService(
    functionv1.FunctionService,
    Effect.succeed({
      // A function that does not wait is answered in the same turn (no promise, signal or timer).
      invoke: (req: functionv1.InvokeRequest) =>
        Effect.suspend(() => {
          const response = invoke(req)
          return response instanceof Promise ? Effect.promise(() => response) : Effect.succeed(response)
        }),
    }),
  )
  const server = serveRpc(
    {
      name: `function server (${Object.keys(def.functions).join(", ")})`,
      version: VERSION,
      host,
      port,
      bodyLimitBytes: options.readMaxBytes ?? 4 * 1024 * 1024,
      shutdownGraceMs: 1500,
    },
    { rpc: [functionService] },
  )
  // The CRM sets OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_SERVICE_NAME when it traces: the server's span
  // of each call then continues the caller's traceparent (ODGM's) and is exported, so an
  // invocation is one trace from the gateway into the function.
  const traced = server.pipe(Layer.provide(Telemetry.tracing(
    { name: env.OTEL_SERVICE_NAME || "oprc-function", version: VERSION },
    { endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT, samplingRatio: 1, serviceName: env.OTEL_SERVICE_NAME || undefined },
  )))
  const started = await startServer(
    options.quiet ? traced.pipe(Layer.provide(Layer.succeed(References.MinimumLogLevel, "Warn"))) : traced,
  )
  return { port: started.port, url: started.url, close: started.stop }
}
