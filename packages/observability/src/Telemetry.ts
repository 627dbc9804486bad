import { Context, Effect, Layer, Logger, References } from "effect"
import type { LogLevel } from "effect/LogLevel"

/** What a binary says about itself in logs, traces and `--version`. */
export interface ServiceIdentity {
  readonly name: string
  readonly version: string
}

export interface TelemetryOptions {
  readonly log: { readonly level: "trace" | "debug" | "info" | "warn" | "error"; readonly format: "json" | "pretty" }
  readonly otlp: {
    readonly endpoint?: string | undefined
    readonly samplingRatio: number
    readonly serviceName?: string | undefined
  }
}

const levels: Record<TelemetryOptions["log"]["level"], LogLevel> = {
  trace: "Trace",
  debug: "Debug",
  info: "Info",
  warn: "Warn",
  error: "Error",
}

/** Fraction of new root traces that are sampled; a remote parent's decision always wins. */
export const SamplingRatio = Context.Reference<number>("oprc/observability/SamplingRatio", { defaultValue: () => 1 })

/**
 * Structured logs at the configured level, and OTLP/HTTP JSON trace export when an endpoint is
 * configured. Without an endpoint no spans are recorded; the caller's traceparent is still
 * passed on to downstream calls.
 */
export const layer = (identity: ServiceIdentity, options: TelemetryOptions): Layer.Layer<never> => {
  const logger = options.log.format === "pretty" ? Logger.consolePretty({ colors: "auto" }) : Logger.consoleJson
  const logs = Layer.mergeAll(
    Logger.layer([logger]),
    Layer.succeed(References.MinimumLogLevel, levels[options.log.level]),
    Layer.succeed(SamplingRatio, options.otlp.samplingRatio),
  )
  return Layer.mergeAll(logs, tracing(identity, options.otlp))
}

/**
 * OTLP/HTTP JSON trace export alone (no logger change), or nothing without an endpoint; for
 * processes that keep their own logging, such as function servers (@oprc/sdk).
 */
export const tracing = (identity: ServiceIdentity, otlp: TelemetryOptions["otlp"]): Layer.Layer<never> => {
  const endpoint = otlp.endpoint
  // Nothing exports: every span is Effect's no-op span (no clock reads, no attributes), and
  // calls still carry the caller's traceparent on (currentTraceHeaders skips the no-op spans).
  if (endpoint === undefined || endpoint === "") return Layer.succeed(References.TracerEnabled, false)
  // The exporter and its HTTP client are loaded only when an endpoint is set (start-up time).
  return Layer.unwrap(
    Effect.promise(() => import("./Otlp.ts")).pipe(
      Effect.map(({ otlpTraces }) => otlpTraces(identity, otlp, endpoint)),
    ),
  )
}
