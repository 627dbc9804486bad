import * as fs from "node:fs"
import { Config, Effect, Option } from "effect"
import { ContextStore } from "./ContextStore"
import { UsageError } from "./errors"
import { CaFileFlag, ContextFlag, CrmUrlFlag, OdgmUrlFlag, PmUrlFlag, TokenFlag } from "./flags"

export type ServerName = "PM" | "ODGM" | "CRM"

export interface Endpoint {
  readonly server: ServerName
  readonly url: string
  readonly token: string | undefined
  readonly ca: Buffer | undefined
}

export interface Endpoints {
  readonly context: string | undefined
  readonly pm: Endpoint
  readonly odgm: Endpoint
  readonly crm: Endpoint
}

const defaultUrls = {
  pm: "http://localhost:8080",
  odgm: "http://localhost:8081",
  crm: "http://localhost:8088",
} as const

const env = (name: string) =>
  Config.option(Config.String(name)).pipe(Effect.map(Option.filter((v) => v !== "")), Effect.orDie)

const first = (...options: ReadonlyArray<Option.Option<string>>): Option.Option<string> => {
  for (const o of options) if (Option.isSome(o)) return o
  return Option.none()
}

export const checkUrl = (server: ServerName, url: string, from: string): Effect.Effect<string, UsageError> => {
  const parsed = URL.canParse(url) ? new URL(url) : undefined
  return parsed !== undefined && (parsed.protocol === "http:" || parsed.protocol === "https:")
    ? Effect.succeed(url.replace(/\/+$/, ""))
    : Effect.fail(
      new UsageError({
        reason: `${server} URL ${JSON.stringify(url)} (from ${from}) is not an http:// or https:// URL`,
      }),
    )
}

/**
 * Where each server is, by precedence: flag (--pm-url), environment (OPRC_PM_URL), the chosen
 * context (--context, OPRC_CONTEXT, else the file's current one), the default localhost port.
 */
export const resolveEndpoints: Effect.Effect<
  Endpoints,
  UsageError,
  | ContextStore
  | typeof ContextFlag.Identifier
  | typeof PmUrlFlag.Identifier
  | typeof OdgmUrlFlag.Identifier
  | typeof CrmUrlFlag.Identifier
  | typeof TokenFlag.Identifier
  | typeof CaFileFlag.Identifier
> = Effect.gen(function*() {
  const store = yield* ContextStore
  const file = yield* store.read
  const chosen = first(yield* ContextFlag, yield* env("OPRC_CONTEXT"), Option.fromUndefinedOr(file.currentContext))
  const contexts = file.contexts ?? {}
  // A context named on the command line or in the environment must exist; a stale current one falls back to defaults.
  const named = Option.isSome(yield* ContextFlag) || Option.isSome(yield* env("OPRC_CONTEXT"))
  if (Option.isSome(chosen) && contexts[chosen.value] === undefined && named) {
    const known = Object.keys(contexts)
    return yield* new UsageError({
      reason: `no context ${JSON.stringify(chosen.value)} in ${store.path}${
        known.length > 0 ? ` (known: ${known.join(", ")})` : " (create it with 'oprc ctx set')"
      }`,
    })
  }
  const entry = Option.isSome(chosen) ? (contexts[chosen.value] ?? {}) : {}
  const pick = (
    flag: Option.Option<string>,
    envName: string,
    fromFile: string | undefined,
    fallback: string | undefined,
  ) =>
    Effect.map(
      env(envName),
      (fromEnv): { readonly value: string | undefined; readonly from: string } =>
        Option.isSome(flag)
          ? { value: flag.value, from: "a flag" }
          : Option.isSome(fromEnv)
          ? { value: fromEnv.value, from: envName }
          : fromFile !== undefined
          ? { value: fromFile, from: `context ${Option.getOrElse(chosen, () => "")}` }
          : { value: fallback, from: "the default" },
    )
  // An empty --token '' means "no token", overriding the context's.
  const token = (yield* pick(yield* TokenFlag, "OPRC_TOKEN", entry.token, undefined)).value || undefined
  const caPick = yield* pick(yield* CaFileFlag, "OPRC_CA_FILE", entry.caFile, undefined)
  // An empty --ca-file '' means "no CA file", overriding the context's.
  const ca = caPick.value === undefined || caPick.value === "" ? undefined : yield* Effect.try({
    try: () => fs.readFileSync(caPick.value!),
    catch: (e) =>
      new UsageError({
        reason: `cannot read the CA file ${caPick.value} (from ${caPick.from}): ${(e as Error).message}`,
      }),
  })
  const endpoint = (
    server: ServerName,
    flag: Option.Option<string>,
    envName: string,
    fromFile: string | undefined,
    fallback: string,
  ) =>
    Effect.gen(function*() {
      const p = yield* pick(flag, envName, fromFile, fallback)
      return { server, url: yield* checkUrl(server, p.value!, p.from), token, ca }
    })
  return {
    context: Option.getOrUndefined(chosen),
    pm: yield* endpoint("PM", yield* PmUrlFlag, "OPRC_PM_URL", entry.pmUrl, defaultUrls.pm),
    odgm: yield* endpoint("ODGM", yield* OdgmUrlFlag, "OPRC_ODGM_URL", entry.odgmUrl, defaultUrls.odgm),
    crm: yield* endpoint("CRM", yield* CrmUrlFlag, "OPRC_CRM_URL", entry.crmUrl, defaultUrls.crm),
  }
})
