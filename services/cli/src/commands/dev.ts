import { Layer, Schema } from "effect"
import { section, TelemetryConfig } from "@oprc/config"
import { CrmApp, CrmConfig } from "@oprc/crm"
import { OdgmApp, OdgmConfig } from "@oprc/odgm"
import { PmApp, PmConfig } from "@oprc/pm"
import { runBinary } from "@oprc/rpc"

/**
 * `oprc dev`: the whole platform in one process on the embedded defaults, each component on its
 * own default port (PM 8080, ODGM 8081, CRM 8088). Each component's keys live under its name:
 * `--set pm.server.port=9080`, `OPRC_ODGM_SERVER_PORT=9081`, or a config file with pm/odgm/crm sections.
 */
export const DevConfig = Schema.Struct({
  pm: section(PmConfig),
  odgm: section(OdgmConfig),
  crm: section(CrmConfig),
  telemetry: section(TelemetryConfig),
})

export const devFlags = {
  "--pm-port": "pm.server.port",
  "--odgm-port": "odgm.server.port",
  "--crm-port": "crm.server.port",
} as const

export const runDev = (argv: ReadonlyArray<string>) =>
  runBinary(
    {
      name: "oprc dev",
      summary: "the whole oprc platform (PM, CRM, ODGM) in one process",
      usage: "oprc dev [--config FILE] [options]",
      schema: DevConfig,
      flags: devFlags,
      app: (config) => Layer.mergeAll(PmApp(config.pm), OdgmApp(config.odgm), CrmApp(config.crm)),
    },
    argv,
  )
