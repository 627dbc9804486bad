import { Schema } from "effect"
import { AuthConfig, section, serverConfig, TelemetryConfig } from "@oprc/config"

/** oprc-crm configuration: file (--config), OPRC_* environment, flags. */
export const CrmConfig = Schema.Struct({
  server: section(serverConfig(8088)),
  auth: section(AuthConfig),
  telemetry: section(TelemetryConfig),
})
export type CrmConfig = typeof CrmConfig.Type

export const crmFlags = { "--port": "server.port", "--host": "server.host" } as const
