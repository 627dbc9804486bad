import { Schema } from "effect"
import { AuthConfig, section, serverConfig, TelemetryConfig } from "@oprc/config"

/** oprc-pm configuration: file (--config), OPRC_* environment, flags. */
export const PmConfig = Schema.Struct({
  server: section(serverConfig(8080)),
  auth: section(AuthConfig),
  telemetry: section(TelemetryConfig),
})
export type PmConfig = typeof PmConfig.Type

export const pmFlags = { "--port": "server.port", "--host": "server.host" } as const
