import { existsSync } from "node:fs"
import * as path from "node:path"
import { Effect, Layer, Redacted, Schema } from "effect"
import { section, TelemetryConfig } from "@oprc/config"
import { CrmApp, CrmConfig } from "@oprc/crm"
import { OdgmApp, OdgmConfig } from "@oprc/odgm"
import { PmApp, PmConfig } from "@oprc/pm"
import { runBinary } from "@oprc/runtime"
import { Api } from "../cli/Api"
import { devStartup } from "./devApply"

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

const devFlags = {
  "--pm-port": "pm.server.port",
  "--odgm-port": "odgm.server.port",
  "--crm-port": "crm.server.port",
} as const

const crmDefaults = Schema.decodeUnknownSync(CrmConfig)({})
const defaultOdgmUrl = crmDefaults.odgm.url
const pmDefaults = Schema.decodeUnknownSync(PmConfig)({})
const odgmDefaults = Schema.decodeUnknownSync(OdgmConfig)({})
const loopback = (host: string) => (host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host)

/** Wires the three components together unless the config already says otherwise. */
const wireDev = (config: DevConfig): DevConfig => {
  const crmUrl = `${config.crm.server.tls ? "https" : "http"}://${
    loopback(config.crm.server.host)
  }:${config.crm.server.port}`
  const odgmUrl = `${config.odgm.server.tls ? "https" : "http"}://${
    loopback(config.odgm.server.host)
  }:${config.odgm.server.port}`
  const internalToken = config.crm.odgm.internalToken ?? config.odgm.internalToken
  return {
    ...config,
    pm: config.pm.clusters.length > 0
      ? config.pm
      : { ...config.pm, clusters: [{ name: config.crm.cluster, url: crmUrl }] },
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

const urlOf = (server: { readonly host: string; readonly port: number; readonly tls?: unknown }) =>
  `${server.tls ? "https" : "http"}://${loopback(server.host)}:${server.port}`

/** Every file `oprc dev` keeps (SQLite stores, function logs) under `dataDir`, unless configured otherwise. */
const inDataDir = (config: DevConfig, dataDir: string): DevConfig => {
  const at = (
    file: string,
    current: string,
    fallback: string,
  ) => (current === fallback ? path.join(dataDir, file) : current)
  return {
    ...config,
    pm: {
      ...config.pm,
      storage: {
        ...config.pm.storage,
        sqlite: {
          ...config.pm.storage.sqlite,
          path: at("pm.sqlite", config.pm.storage.sqlite.path, pmDefaults.storage.sqlite.path),
        },
      },
    },
    odgm: {
      ...config.odgm,
      storage: {
        ...config.odgm.storage,
        sqlite: {
          ...config.odgm.storage.sqlite,
          path: at("odgm.sqlite", config.odgm.storage.sqlite.path, odgmDefaults.storage.sqlite.path),
        },
      },
    },
    crm: {
      ...config.crm,
      storage: {
        ...config.crm.storage,
        sqlite: {
          ...config.crm.storage.sqlite,
          path: at("crm.sqlite", config.crm.storage.sqlite.path, crmDefaults.storage.sqlite.path),
        },
      },
      driver: {
        ...config.crm.driver,
        process: {
          ...config.crm.driver.process,
          logDir: at("crm-logs", config.crm.driver.process.logDir, crmDefaults.driver.process.logDir),
        },
      },
    },
  }
}

/** Takes `--apply FILE...` (files up to the next flag; repeatable) and `--data-dir DIR` out of argv. */
export const devArgs = (argv: ReadonlyArray<string>) => {
  const rest: Array<string> = []
  const apply: Array<string> = []
  let dataDir = ".oprc-dev"
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === "--apply") {
      while (i + 1 < argv.length && !argv[i + 1]!.startsWith("-")) apply.push(argv[++i]!)
    } else if (a.startsWith("--apply=")) apply.push(a.slice("--apply=".length))
    else if (a === "--data-dir" && i + 1 < argv.length) dataDir = argv[++i]!
    else if (a.startsWith("--data-dir=")) dataDir = a.slice("--data-dir=".length)
    else rest.push(a)
  }
  return { rest, apply, dataDir }
}

export const runDev = (argv: ReadonlyArray<string>) => {
  const { rest, apply, dataDir } = devArgs(argv)
  // A mistyped file name is a usage error before anything starts, not a surprise a minute later.
  const missing = apply.filter((f) => !existsSync(f))
  if (missing.length > 0) {
    console.error(`error: --apply ${missing.join(", ")}: no such file`)
    process.exit(2)
  }
  return runBinary(
    {
      name: "oprc dev",
      summary:
        "the whole oprc platform (PM, CRM, ODGM) in one process; --apply FILE... applies packages and deployments once it is up, --data-dir DIR keeps its files (default ./.oprc-dev)",
      usage: "oprc dev [--apply FILE...] [--data-dir DIR] [--config FILE] [options]",
      schema: DevConfig,
      flags: devFlags,
      app: (input) => {
        const config = inDataDir(wireDev(input), dataDir)
        const admin = config.pm.auth.tokens.find((t) => t.role === "admin")
        const urls = {
          pm: urlOf(config.pm.server),
          odgm: urlOf(config.odgm.server),
          crm: urlOf(config.crm.server),
          pmToken: admin === undefined ? undefined : Redacted.value(admin.token),
        }
        const startup = devStartup(urls, apply, dataDir).pipe(
          Effect.provide(Api.layer),
          Effect.forkScoped,
        )
        return Layer.mergeAll(PmApp(config.pm), OdgmApp(config.odgm), CrmApp(config.crm), Layer.effectDiscard(startup))
      },
    },
    rest,
  )
}
