import { Cause, Effect, Exit, Fiber, Layer, type Schema } from "effect"
import { type FlagMap, helpText, loadConfig, parseArgs, type ServerConfig, type TelemetryConfig } from "@oprc/config"
import { Health, Telemetry } from "@oprc/observability"
import type { ServerOptions } from "./server/Server"

/** Stamped by scripts/build.ts at compile time; "dev" when run from source. */
export const VERSION: string = process.env.OPRC_BUILD_VERSION ?? "0.1.0-dev"

export interface BinarySpec<A extends { readonly telemetry: TelemetryConfig }> {
  readonly name: string
  readonly summary: string
  readonly schema: Schema.Decoder<A>
  readonly flags: FlagMap
  readonly usage?: string
  /** The whole application for a loaded config. Telemetry and Health are provided around it. */
  readonly app: (config: A) => Layer.Layer<never, unknown, Health>
}

/** Server options for serve() from the shared config section. */
export const serverOptions = (name: string, server: ServerConfig): ServerOptions => ({
  name,
  version: VERSION,
  host: server.host,
  port: server.port,
  tls: server.tls,
  bodyLimitBytes: server.bodyLimitBytes,
  shutdownGraceMs: server.shutdownGraceMs,
  maxJsonDepth: server.maxJsonDepth,
  maxJsonValues: server.maxJsonValues,
  headersTimeoutMs: server.headersTimeoutMs,
  bodyTimeoutMs: server.bodyTimeoutMs,
  idleTimeoutMs: server.idleTimeoutMs,
  maxConnections: server.maxConnections,
  bodyBudgetBytes: server.bodyBudgetBytes,
})

/**
 * Entry point of every server binary: `--help`, `--version`, config from file/env/flags (bad
 * config exits 2 with every problem listed), telemetry, then the app until SIGTERM/SIGINT, which
 * drains and exits 0. A hard deadline guarantees the process is gone within ~2 s of the signal.
 */
export const runBinary = <A extends { readonly telemetry: TelemetryConfig }>(
  spec: BinarySpec<A>,
  argv: ReadonlyArray<string> = process.argv.slice(2),
  env: Readonly<Record<string, string | undefined>> = process.env,
): void => {
  const args = parseArgs(spec.schema, argv, spec.flags)
  if (args.help) {
    console.log(`${spec.name} ${VERSION}: ${spec.summary}\n\nUsage: ${spec.usage ?? `${spec.name} [--config FILE] [options]`}\n\n${helpText(spec.schema, spec.flags)}`)
    process.exit(0)
  }
  if (args.version) {
    console.log(`${spec.name} ${VERSION}`)
    process.exit(0)
  }
  const program = Effect.gen(function* () {
    const config = yield* loadConfig(spec.schema, { argv, env, flags: spec.flags })
    const identity = { name: spec.name, version: VERSION }
    const app = spec.app(config).pipe(Layer.provide(Health.layer), Layer.provide(Telemetry.layer(identity, config.telemetry)))
    return yield* Layer.launch(app)
  })
  const fiber = Effect.runFork(program)
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    // Give the drain its grace period, then leave no matter what.
    setTimeout(() => {
      console.error(`${spec.name}: forced exit after ${signal}`)
      process.exit(1)
    }, 1900).unref()
    Effect.runFork(Fiber.interrupt(fiber))
  }
  process.on("SIGTERM", () => stop("SIGTERM"))
  process.on("SIGINT", () => stop("SIGINT"))
  fiber.addObserver((exit) => {
    if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) process.exit(0)
    const failure = Cause.findErrorOption(exit.cause)
    const text = failure._tag === "Some" && failure.value instanceof Error ? failure.value.message : Cause.pretty(exit.cause)
    console.error(`${spec.name}: ${text}`)
    process.exit(failure._tag === "Some" && (failure.value as { _tag?: string })._tag === "ConfigLoadError" ? 2 : 1)
  })
}
