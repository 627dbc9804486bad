import { Layer } from "effect"
import { FetchHttpClient } from "effect/http"
import { OtlpSerialization, OtlpTracer } from "effect/observability"
import type { ServiceIdentity, TelemetryOptions } from "./Telemetry.ts"

/** OTLP/HTTP JSON trace export to `endpoint`; imported by Telemetry only when one is configured. */
export const otlpTraces = (
  identity: ServiceIdentity,
  otlp: TelemetryOptions["otlp"],
  endpoint: string,
): Layer.Layer<never> =>
  OtlpTracer.layer({
    url: new URL("v1/traces", endpoint.endsWith("/") ? endpoint : `${endpoint}/`).toString(),
    resource: { serviceName: otlp.serviceName ?? identity.name, serviceVersion: identity.version },
    exportInterval: "500 millis",
    shutdownTimeout: "1 second",
  }).pipe(Layer.provide(OtlpSerialization.layerJson), Layer.provide(FetchHttpClient.layer), Layer.orDie)
