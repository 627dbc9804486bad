import { Schema } from "effect"
import { AuthConfig, section, serverConfig, TelemetryConfig } from "@oprc/config"

/** oprc-odgm configuration: file (--config), OPRC_* environment, flags. */
export const OdgmConfig = Schema.Struct({
  server: section(serverConfig(8081)),
  auth: section(AuthConfig),
  telemetry: section(TelemetryConfig),
})
export type OdgmConfig = typeof OdgmConfig.Type

export const odgmFlags = { "--port": "server.port", "--host": "server.host" } as const
