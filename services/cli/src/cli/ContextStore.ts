import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Config, Context, Effect, Layer, Option, Schema } from "effect"
import YAML from "yaml"
import { decodeWith } from "@oprc/models"
import { UsageError } from "./errors"

/** Where one set of servers lives, and how to talk to it. Every field is optional: defaults fill the rest. */
export const ContextEntry = Schema.Struct({
  pmUrl: Schema.optionalKey(Schema.String),
  odgmUrl: Schema.optionalKey(Schema.String),
  crmUrl: Schema.optionalKey(Schema.String),
  token: Schema.optionalKey(Schema.String),
  caFile: Schema.optionalKey(Schema.String),
})
export type ContextEntry = typeof ContextEntry.Type

export const ConfigFile = Schema.Struct({
  currentContext: Schema.optionalKey(Schema.String),
  contexts: Schema.optionalKey(Schema.Record(Schema.String, ContextEntry)),
})
export type ConfigFile = typeof ConfigFile.Type

const decodeFile = decodeWith(ConfigFile)

/** The file path: `$OPRC_CONFIG`, else `$HOME/.oprc/config.yaml`. */
const configPath = Effect.gen(function*() {
  const override = yield* Config.option(Config.String("OPRC_CONFIG"))
  if (Option.isSome(override) && override.value !== "") return override.value
  const home = yield* Config.String("HOME").pipe(Config.withDefault(os.homedir()))
  return path.join(home, ".oprc", "config.yaml")
})

const contextName = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/

/** `oprc ctx` contexts, kept in one YAML file (written 0600: it may hold tokens). */
export class ContextStore extends Context.Service<ContextStore, {
  readonly path: string
  readonly read: Effect.Effect<ConfigFile, UsageError>
  readonly write: (file: ConfigFile) => Effect.Effect<void, UsageError>
}>()("oprc/cli/ContextStore") {
  static readonly layer = Layer.effect(ContextStore)(
    Effect.gen(function*() {
      const file = yield* configPath
      return ContextStore.of({
        path: file,
        read: Effect.gen(function*() {
          if (!fs.existsSync(file)) return {}
          const text = yield* Effect.try({
            try: () => fs.readFileSync(file, "utf8"),
            catch: (e) => new UsageError({ reason: `cannot read ${file}: ${(e as Error).message}` }),
          })
          const raw = yield* Effect.try({
            try: () => YAML.parse(text) as unknown,
            catch: (e) =>
              new UsageError({ reason: `${file} is not valid YAML: ${(e as Error).message.split("\n")[0]}` }),
          })
          return yield* decodeFile(raw ?? {}).pipe(
            Effect.mapError((e) =>
              new UsageError({ reason: `${file} is not a valid oprc config`, violations: e.violations })
            ),
          )
        }),
        write: (content) =>
          Effect.try({
            try: () => {
              fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
              // Write beside it and rename, so a crash never leaves a half-written config.
              const tmp = `${file}.${process.pid}.tmp`
              fs.writeFileSync(tmp, YAML.stringify(content), { mode: 0o600 })
              fs.renameSync(tmp, file)
            },
            catch: (e) => new UsageError({ reason: `cannot write ${file}: ${(e as Error).message}` }),
          }),
      })
    }),
  )
}

export const checkContextName = (name: string): Effect.Effect<string, UsageError> =>
  contextName.test(name)
    ? Effect.succeed(name)
    : Effect.fail(
      new UsageError({ reason: `context name ${JSON.stringify(name)} must be 1-63 letters, digits, '.', '_' or '-'` }),
    )
