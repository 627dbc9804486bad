// The same handler through packages/rpc: Effect handler, one-port sniffing front (h1 + h2c),
// metrics, spans and the edge error mapper — what every oprc service pays per call; plus a REST echo.
import { Effect, Layer } from "effect"
import { Health, Telemetry } from "@oprc/observability"
import { json, route, rpcService, serve } from "@oprc/rpc"
import { functionv1 } from "@oprc/proto"
import { echo } from "./handler"

const service = rpcService(
  functionv1.FunctionService,
  Effect.succeed({ invoke: (req: functionv1.InvokeRequest) => Effect.succeed(echo(req)) }),
)
const server = serve(
  {
    name: "bench",
    version: "0",
    host: "127.0.0.1",
    port: Number(process.env.PORT),
    bodyLimitBytes: 1 << 20,
    shutdownGraceMs: 200,
  },
  // The REST echo: the same bytes back through the REST router (strict JSON, limits, metrics).
  {
    rpc: [service],
    rest: [route("POST", "/api/echo", (req) => Effect.succeed(json(200, JSON.parse(req.text ?? "null"))))],
  },
)
const telemetry = Telemetry.layer({ name: "bench", version: "0" }, {
  log: { level: "warn", format: "json" },
  otlp: { samplingRatio: 1 },
})
Effect.runFork(Layer.launch(server.pipe(Layer.provide(Health.layer), Layer.provide(telemetry))))
// bench/rpc/profile.ts: a normal exit is what makes `bun --cpu-prof` write its profile.
const exitAfterMs = Number(process.env.BENCH_EXIT_AFTER_MS ?? 0)
if (exitAfterMs > 0) setTimeout(() => process.exit(0), exitAfterMs)
