import { Flag, GlobalFlag } from "effect/cli"

/** Flags every command accepts (before or after the subcommand). */

export const OutputFormat = GlobalFlag.Setting("output")({
  flag: Flag.Literals("output", ["table", "json", "yaml"]).pipe(
    Flag.withAlias("o"),
    Flag.withDefault("table"),
    Flag.withDescription("output format: table for people; json and yaml have a stable shape for scripts"),
  ),
})
export type OutputFormat = "table" | "json" | "yaml"

export const ContextFlag = GlobalFlag.Setting("context")({
  flag: Flag.String("context").pipe(
    Flag.optional,
    Flag.withDescription("use this context instead of the current one (OPRC_CONTEXT)"),
  ),
})

const urlFlag = (name: string, what: string, env: string, port: number) =>
  Flag.String(name).pipe(
    Flag.optional,
    Flag.withMetavar("URL"),
    Flag.withDescription(`${what} URL (${env}; default http://localhost:${port})`),
  )

export const PmUrlFlag = GlobalFlag.Setting("pm-url")({
  flag: urlFlag("pm-url", "Package Manager", "OPRC_PM_URL", 8080),
})
export const OdgmUrlFlag = GlobalFlag.Setting("odgm-url")({
  flag: urlFlag("odgm-url", "Object Data Grid Manager", "OPRC_ODGM_URL", 8081),
})
export const CrmUrlFlag = GlobalFlag.Setting("crm-url")({
  flag: urlFlag("crm-url", "Class Runtime Manager", "OPRC_CRM_URL", 8088),
})
export const TokenFlag = GlobalFlag.Setting("token")({
  flag: Flag.String("token").pipe(
    Flag.optional,
    Flag.withDescription("bearer token sent to every server (OPRC_TOKEN)"),
  ),
})
export const CaFileFlag = GlobalFlag.Setting("ca-file")({
  flag: Flag.String("ca-file").pipe(
    Flag.optional,
    Flag.withMetavar("FILE"),
    Flag.withDescription("PEM CA bundle for https URLs (OPRC_CA_FILE)"),
  ),
})

export const globalFlags = [
  OutputFormat,
  ContextFlag,
  PmUrlFlag,
  OdgmUrlFlag,
  CrmUrlFlag,
  TokenFlag,
  CaFileFlag,
] as const
