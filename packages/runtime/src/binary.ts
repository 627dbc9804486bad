// The module itself, not the package index: that loads every platform module (Redis and cluster
// clients among them), ~200-280 ms more start-up from source than this one (28-36 ms).
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Effect, Exit, Layer, type Schema } from "effect"
import { type FlagMap, helpText, loadConfig, parseArgs, type TelemetryConfig } from "@oprc/config"
import { Health, Telemetry } from "@oprc/observability"

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

/** After a signal, the drain has this long (server.shutdownGraceMs is 1.5 s) before the process leaves anyway. */
const FORCED_EXIT_MS = 1900

/**
 * The process's exit code for how the program ended: 0 for a stop by signal (interruption) or a
 * clean end, 2 for a bad config (every problem was listed), 1 for anything else. Not
 * `NodeRuntime`'s default teardown, which answers an interruption with 130: a SIGTERM is how
 * orchestrators stop a healthy server, and they read a non-zero code as a crash.
 */
export const exitCodeOf = (exit: Exit.Exit<unknown, unknown>): number => {
  if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) return 0
  const failure = Cause.findErrorOption(exit.cause)
  return failure._tag === "Some" && (failure.value as { _tag?: string })._tag === "ConfigLoadError" ? 2 : 1
}

const ms = (t: number) => `${Math.round(t)} ms`

/**
 * Where the start-up went, as times since the process started (bench/perf/startup.ts reads it):
 * modules evaluated, config loaded, then every layer built, the port listening included.
 */
const startedLine = (name: string, evaluated: number, loaded: number, serving: number): string =>
  `${name} started in ${ms(serving)}: modules ${ms(evaluated)}, config ${ms(loaded - evaluated)}, services and port ${
    ms(serving - loaded)
  }`

/**
 * Entry point of every server binary: `--help`, `--version`, config from file/env/flags (bad
 * config exits 2 with every problem listed), telemetry, then the app until SIGTERM/SIGINT, which
 * drains and exits 0. Signals and the run itself are `NodeRuntime.runMain`'s; this adds the exit
 * codes above, the one-line error report and a hard deadline (the process is gone within ~2 s
 * of the signal even if a finalizer hangs).
 */
export const runBinary = <A extends { readonly telemetry: TelemetryConfig }>(
  spec: BinarySpec<A>,
  argv: ReadonlyArray<string> = process.argv.slice(2),
  env: Readonly<Record<string, string | undefined>> = process.env,
): void => {
  // performance.now() counts from the process's start: this is when every module was evaluated.
  const evaluated = performance.now()
  const args = parseArgs(spec.schema, argv, spec.flags)
  if (args.help) {
    console.log(
      `${spec.name} ${VERSION}: ${spec.summary}\n\nUsage: ${
        spec.usage ?? `${spec.name} [--config FILE] [options]`
      }\n\n${helpText(spec.schema, spec.flags)}`,
    )
    process.exit(0)
  }
  if (args.version) {
    console.log(`${spec.name} ${VERSION}`)
    process.exit(0)
  }
  const program = Effect.gen(function*() {
    const config = yield* loadConfig(spec.schema, { argv, env, flags: spec.flags })
    const loaded = performance.now()
    const identity = { name: spec.name, version: VERSION }
    const app = spec.app(config).pipe(
      Layer.tap(() => Effect.logInfo(startedLine(spec.name, evaluated, loaded, performance.now()))),
      Layer.provide(Health.layer),
      Layer.provide(Telemetry.layer(identity, config.telemetry)),
    )
    return yield* Layer.launch(app)
  })
  const forceExitLater = (signal: string) => () =>
    void setTimeout(() => {
      console.error(`${spec.name}: forced exit after ${signal}`)
      process.exit(1)
    }, FORCED_EXIT_MS).unref()
  process.once("SIGTERM", forceExitLater("SIGTERM"))
  process.once("SIGINT", forceExitLater("SIGINT"))
  NodeRuntime.runMain(program, {
    // Reported below in one line (the config's issue list, or the failure's message).
    disableErrorReporting: true,
    teardown: (exit, onExit) => {
      const code = exitCodeOf(exit)
      if (code !== 0 && Exit.isFailure(exit)) {
        const failure = Cause.findErrorOption(exit.cause)
        const text = failure._tag === "Some" && failure.value instanceof Error
          ? failure.value.message
          : Cause.pretty(exit.cause)
        console.error(`${spec.name}: ${text}`)
      }
      // runMain leaves a clean end without a signal to the event loop; a server's end is final.
      onExit(code)
      process.exit(code)
    },
  })
}
