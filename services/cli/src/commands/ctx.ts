import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { checkContextName, type ContextEntry, ContextStore } from "../cli/ContextStore"
import { checkUrl, resolveEndpoints } from "../cli/Endpoints"
import { UsageError } from "../cli/errors"
import { CaFileFlag, CrmUrlFlag, OdgmUrlFlag, PmUrlFlag, TokenFlag } from "../cli/flags"
import { emit, note, table } from "../cli/Output"

const nameArg = Argument.String("name").pipe(Argument.withDescription("context name"))

const masked = (entry: ContextEntry) => ({ ...entry, ...(entry.token === undefined ? {} : { token: "(set)" }) })

const unknownContext = (name: string, path: string, known: ReadonlyArray<string>) =>
  new UsageError({
    reason: `no context ${JSON.stringify(name)} in ${path}${known.length > 0 ? ` (known: ${known.join(", ")})` : ""}`,
  })

const set = Command.make("set", {
  name: nameArg,
  use: Flag.Boolean("use").pipe(Flag.withDefault(false), Flag.withDescription("also make it the current context")),
}, ({ name, use }) =>
  Effect.gen(function*() {
    yield* checkContextName(name)
    const store = yield* ContextStore
    const file = yield* store.read
    const contexts = { ...file.contexts }
    const before = contexts[name] ?? {}
    const change: Record<string, Option.Option<string>> = {
      pmUrl: yield* PmUrlFlag,
      odgmUrl: yield* OdgmUrlFlag,
      crmUrl: yield* CrmUrlFlag,
      token: yield* TokenFlag,
      caFile: yield* CaFileFlag,
    }
    const entry: Record<string, string> = { ...before }
    const servers = { pmUrl: "PM", odgmUrl: "ODGM", crmUrl: "CRM" } as const
    for (const [k, server] of Object.entries(servers)) {
      const v = change[k]
      if (v !== undefined && Option.isSome(v) && v.value !== "") {
        yield* checkUrl(server, v.value, `--${k.replace("Url", "")}-url`)
      }
    }
    for (const [k, v] of Object.entries(change)) {
      // An empty value removes the setting (e.g. --token '').
      if (Option.isSome(v)) {
        v.value === "" ? delete entry[k] : (entry[k] = v.value)
      }
    }
    contexts[name] = entry
    const makeCurrent = use || file.currentContext === undefined
    yield* store.write({ ...file, contexts, ...(makeCurrent ? { currentContext: name } : {}) })
    yield* note(
      `context ${name} ${file.contexts?.[name] === undefined ? "created" : "updated"}${
        makeCurrent ? " (current)" : ""
      } in ${store.path}`,
    )
  })).pipe(
    Command.withDescription(
      "Create or update a context: the URLs, token and CA to use. Settings come from the global flags; an empty value removes one.",
    ),
    Command.withExamples([
      {
        command: "oprc ctx set local --pm-url http://localhost:8080 --odgm-url http://localhost:8081",
        description: "a context for oprc dev",
      },
      {
        command: "oprc ctx set prod --pm-url https://pm.example:8080 --token $TOKEN --ca-file ca.pem --use",
        description: "a TLS context with a token, made current",
      },
    ]),
  )

const use = Command.make("use", { name: nameArg }, ({ name }) =>
  Effect.gen(function*() {
    const store = yield* ContextStore
    const file = yield* store.read
    if (file.contexts?.[name] === undefined) {
      return yield* unknownContext(name, store.path, Object.keys(file.contexts ?? {}))
    }
    yield* store.write({ ...file, currentContext: name })
    yield* note(`current context: ${name}`)
  })).pipe(
    Command.withDescription("Make a context the current one"),
    Command.withExamples([{ command: "oprc ctx use prod", description: "talk to prod from now on" }]),
  )

const list = Command.make("list", {}, () =>
  Effect.gen(function*() {
    const store = yield* ContextStore
    const file = yield* store.read
    const items = Object.entries(file.contexts ?? {}).map(([name, entry]) => ({
      name,
      current: name === file.currentContext,
      ...masked(entry),
    }))
    yield* emit({ currentContext: file.currentContext ?? null, items }, () =>
      table(
        ["current", "name", "pm", "odgm", "crm", "token"],
        items.map((
          c,
        ) => [
          c.current ? "*" : "",
          c.name,
          c.pmUrl ?? "-",
          c.odgmUrl ?? "-",
          c.crmUrl ?? "-",
          c.token === undefined ? "-" : "set",
        ]),
        `no contexts in ${store.path} (defaults: PM http://localhost:8080, ODGM :8081, CRM :8088)`,
      ))
  })).pipe(
    Command.withDescription("List the contexts; * marks the current one"),
    Command.withExamples([{ command: "oprc ctx list -o yaml", description: "as YAML (tokens are masked)" }]),
  )

const show = Command.make("show", {}, () =>
  Effect.gen(function*() {
    const e = yield* resolveEndpoints
    const value = {
      context: e.context ?? null,
      pmUrl: e.pm.url,
      odgmUrl: e.odgm.url,
      crmUrl: e.crm.url,
      token: e.pm.token === undefined ? null : "(set)",
      ca: e.pm.ca !== undefined,
    }
    yield* emit(value, () =>
      table(["setting", "value"], [
        ["context", e.context ?? "(none)"],
        ["pm", e.pm.url],
        ["odgm", e.odgm.url],
        ["crm", e.crm.url],
        ["token", e.pm.token === undefined ? "-" : "set"],
        ["ca", e.pm.ca === undefined ? "-" : "set"],
      ]))
  })).pipe(
    Command.withDescription("Show what the next command will use, after flags and OPRC_* variables"),
    Command.withExamples([{
      command: "OPRC_PM_URL=http://10.0.0.5:8080 oprc ctx show",
      description: "the environment overrides the context",
    }]),
  )

const del = Command.make("delete", { name: nameArg }, ({ name }) =>
  Effect.gen(function*() {
    const store = yield* ContextStore
    const file = yield* store.read
    if (file.contexts?.[name] === undefined) {
      return yield* unknownContext(name, store.path, Object.keys(file.contexts ?? {}))
    }
    const { [name]: _removed, ...rest } = file.contexts
    const { currentContext, ...others } = file
    yield* store.write({
      ...others,
      contexts: rest,
      ...(currentContext === name || currentContext === undefined ? {} : { currentContext }),
    })
    yield* note(`context ${name} deleted${currentContext === name ? "; no context is current now" : ""}`)
  })).pipe(
    Command.withDescription("Delete a context"),
    Command.withExamples([{ command: "oprc ctx delete old", description: "forget the context old" }]),
  )

export const ctxCommand = Command.make("ctx").pipe(
  Command.withDescription(
    "Contexts: which PM, ODGM and CRM to talk to, with which token (stored in ~/.oprc/config.yaml, or $OPRC_CONFIG)",
  ),
  Command.withSubcommands([set, use, list, show, del]),
  Command.withExamples([{
    command: "oprc ctx set local --pm-url http://localhost:8080 && oprc ctx use local",
    description: "create and select a context",
  }]),
)
