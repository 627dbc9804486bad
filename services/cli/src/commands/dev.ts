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
 * The in-process CRM is the PM's cluster `local` and uses the in-process ODGM, so a deployment
 * starts real function processes; they stop when `oprc dev` stops.
 */
export const DevConfig = Schema.Struct({
  pm: section(PmConfig),
  odgm: section(OdgmConfig),
  crm: section(CrmConfig),
  telemetry: section(TelemetryConfig),
})
export type DevConfig = typeof DevConfig.Type

export const devFlags = {
  "--pm-port": "pm.server.port",
  "--odgm-port": "odgm.server.port",
  "--crm-port": "crm.server.port",
} as const

const defaultOdgmUrl = Schema.decodeUnknownSync(CrmConfig)({}).odgm.url
const loopback = (host: string) => (host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host)

/** Wires the three components together unless the config already says otherwise. */
export const wireDev = (config: DevConfig): DevConfig => {
  const crmUrl = `${config.crm.server.tls ? "https" : "http"}://${loopback(config.crm.server.host)}:${config.crm.server.port}`
  const odgmUrl = `${config.odgm.server.tls ? "https" : "http"}://${loopback(config.odgm.server.host)}:${config.odgm.server.port}`
  const internalToken = config.crm.odgm.internalToken ?? config.odgm.internalToken
  return {
    ...config,
    pm: config.pm.clusters.length > 0 ? config.pm : { ...config.pm, clusters: [{ name: config.crm.cluster, url: crmUrl }] },
    crm: {
      ...config.crm,
      odgm: {
        ...config.crm.odgm,
        url: config.crm.odgm.url === defaultOdgmUrl ? odgmUrl : config.crm.odgm.url,
        ...(internalToken === undefined ? {} : { internalToken }),
      },
      driver: { ...config.crm.driver, process: { ...config.crm.driver.process, stopOnExit: true } },
    },
  }
}

export const runDev = (argv: ReadonlyArray<string>) =>
  runBinary(
    {
      name: "oprc dev",
      summary: "the whole oprc platform (PM, CRM, ODGM) in one process",
      usage: "oprc dev [--config FILE] [options]",
      schema: DevConfig,
      flags: devFlags,
      app: (input) => {
        const config = wireDev(input)
        return Layer.mergeAll(PmApp(config.pm), OdgmApp(config.odgm), CrmApp(config.crm))
      },
    },
    argv,
  )
