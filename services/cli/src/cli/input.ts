import * as fs from "node:fs"
import { Effect } from "effect"
import YAML from "yaml"
import { UsageError } from "./errors"

const readStdin = Effect.tryPromise({
  try: () => Bun.stdin.text(),
  catch: (e) => new UsageError({ reason: `cannot read standard input: ${(e as Error).message}` }),
})

/** A file's text; `-` reads standard input. */
export const readFileArg = (file: string, flag: string): Effect.Effect<string, UsageError> =>
  file === "-"
    ? readStdin
    : Effect.try({
      try: () => fs.readFileSync(file, "utf8"),
      catch: (e) =>
        new UsageError({
          reason: `${flag} ${file}: ${
            (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message
          }`,
        }),
    })

/** `JSON`, `@file` or `-` (stdin): the raw text of a payload flag. */
export const readPayloadArg = (value: string, flag: string): Effect.Effect<string, UsageError> =>
  value === "-" ? readStdin : value.startsWith("@") ? readFileArg(value.slice(1), flag) : Effect.succeed(value)

/** Text that must be JSON; the error names the flag. */
export const parseJsonArg = (text: string, flag: string): Effect.Effect<unknown, UsageError> =>
  Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: (e) =>
      new UsageError({
        reason: `${flag}: not valid JSON (${(e as Error).message.replace(/^JSON Parse error: /, "")})`,
      }),
  })

/** One or more YAML/JSON documents (`---` separated); the error names the file and the line. */
export const parseDocuments = (text: string, file: string): Effect.Effect<ReadonlyArray<unknown>, UsageError> => {
  const docs = YAML.parseAllDocuments(text)
  const list = Array.isArray(docs) ? docs : [docs]
  const bad = list.flatMap((d) => d.errors)[0]
  if (bad !== undefined) {
    const at = bad.linePos?.[0]
    return Effect.fail(
      new UsageError({
        reason: `${file}: syntax error${at === undefined ? "" : ` at line ${at.line}, column ${at.col}`}: ${
          bad.message.split("\n")[0]
        }`,
      }),
    )
  }
  return Effect.try({
    try: () => list.map((d) => d.toJS({ maxAliasCount: 100 }) as unknown).filter((d) => d !== null && d !== undefined),
    catch: (e) => new UsageError({ reason: `${file}: ${(e as Error).message}` }),
  })
}

/** `key=value` pairs: the value is JSON when it parses as JSON, else the string itself. */
export const entriesFromPairs = (pairs: Readonly<Record<string, string>>): Record<string, unknown> =>
  Object.fromEntries(
    Object.entries(pairs).map(([k, v]) => {
      try {
        return [k, JSON.parse(v) as unknown]
      } catch {
        return [k, v]
      }
    }),
  )
