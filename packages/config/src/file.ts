import { readFile as fsReadFile } from "node:fs/promises"
import { extname } from "node:path"
import { Effect, Result } from "effect"
import * as TOML from "smol-toml"
import * as YAML from "yaml"
import { errorMessage } from "./coerce.ts"
import type { ConfigIssue } from "./errors.ts"

export type ReadFile = (path: string) => Effect.Effect<string, unknown>

export interface Position {
  readonly line: number
  readonly column: number
}

/** A parsed config file; `locate` finds where a key was written, when the format tracks it. */
export interface ConfigFile {
  readonly file: string
  readonly data: Record<string, unknown>
  readonly locate: (path: ReadonlyArray<PropertyKey>) => Position | undefined
}

export const defaultReadFile: ReadFile = (path) =>
  Effect.tryPromise({ try: () => fsReadFile(path, "utf8"), catch: (cause) => cause })

const describeReadError = (cause: unknown): string => {
  const code = typeof cause === "object" && cause !== null && "code" in cause ? cause.code : undefined
  switch (code) {
    case "ENOENT":
      return "file not found"
    case "EACCES":
    case "EPERM":
      return "permission denied"
    case "EISDIR":
      return "is a directory"
    default:
      return errorMessage(cause)
  }
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

// smol-toml builds null-prototype objects; rebuilding plain ones keeps later merging and
// error printing ordinary.
const plain = (u: unknown): unknown =>
  Array.isArray(u)
    ? u.map(plain)
    : isRecord(u) && (Object.getPrototypeOf(u) === null || Object.getPrototypeOf(u) === Object.prototype)
    ? Object.fromEntries(Object.entries(u).map(([k, v]) => [k, plain(v)]))
    : u

const noPosition = () => undefined

type Parsed = Result.Result<
  { readonly data: unknown; readonly locate: ConfigFile["locate"] },
  ReadonlyArray<ConfigIssue>
>

const fileIssue = (file: string, message: string, at?: Position): ConfigIssue => ({
  path: "",
  message,
  source: at === undefined ? { _tag: "File", file } : { _tag: "File", file, line: at.line, column: at.column },
})

const parseYaml = (file: string, text: string): Parsed => {
  const lineCounter = new YAML.LineCounter()
  // prettyErrors would append the offending source line, which may hold a secret.
  const doc = YAML.parseDocument(text, { lineCounter, prettyErrors: false })
  const position = (offset: number): Position => {
    const { line, col } = lineCounter.linePos(offset)
    return { line, column: col }
  }
  if (doc.errors.length > 0) {
    return Result.fail(doc.errors.map((e) => fileIssue(file, `invalid YAML: ${e.message}`, position(e.pos[0]))))
  }
  return Result.succeed({
    data: doc.toJS(),
    locate: (path) => {
      const node = doc.getIn(path, true)
      return YAML.isNode(node) && node.range ? position(node.range[0]) : undefined
    },
  })
}

const parseToml = (file: string, text: string): Parsed =>
  Result.mapBoth(Result.try(() => TOML.parse(text)), {
    onSuccess: (data) => ({ data, locate: noPosition }),
    onFailure: (cause) => {
      // The first line is the reason; the rest is a code excerpt, which may hold a secret.
      const reason = errorMessage(cause).split("\n")[0] ?? ""
      const at = cause instanceof TOML.TomlError ? { line: cause.line, column: cause.column } : undefined
      return [fileIssue(file, `invalid TOML: ${reason.replace(/^Invalid TOML document: /, "")}`, at)]
    },
  })

const jsonPosition = (text: string, message: string): Position | undefined => {
  const match = /position (\d+)/.exec(message)
  if (match?.[1] === undefined) return undefined
  const before = text.slice(0, Number(match[1])).split("\n")
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 }
}

// JSON.parse messages quote the unexpected token, which may be part of a secret: only the
// position is kept.
const parseJson = (file: string, text: string): Parsed =>
  Result.mapBoth(Result.try((): unknown => JSON.parse(text)), {
    onSuccess: (data) => ({ data, locate: noPosition }),
    onFailure: (cause) => [fileIssue(file, "invalid JSON", jsonPosition(text, errorMessage(cause)))],
  })

/** Parses config text by the file's extension: .yaml/.yml, .toml or .json. */
export const parseConfigText = (file: string, text: string): Result.Result<ConfigFile, ReadonlyArray<ConfigIssue>> => {
  const ext = extname(file).toLowerCase()
  const parsed = ext === ".yaml" || ext === ".yml"
    ? parseYaml(file, text)
    : ext === ".toml"
    ? parseToml(file, text)
    : ext === ".json"
    ? parseJson(file, text)
    : Result.fail([fileIssue(file, `unsupported extension "${ext}": use .yaml, .yml, .toml or .json`)])
  return Result.flatMap(parsed, ({ data, locate }) => {
    // An empty YAML file is a file that sets nothing, not an error.
    if (data === null || data === undefined) return Result.succeed({ file, data: {}, locate })
    const normalized = plain(data)
    return isRecord(normalized)
      ? Result.succeed({ file, data: normalized, locate })
      : Result.fail([fileIssue(file, "expected a mapping of sections at the top level")])
  })
}

/** Reads and parses a config file; failures name the file (and the line when the parser knows it). */
export const loadConfigFile = (file: string, readFile: ReadFile = defaultReadFile) =>
  readFile(file).pipe(
    Effect.mapError((
      cause,
    ): ReadonlyArray<ConfigIssue> => [fileIssue(file, `cannot read: ${describeReadError(cause)}`)]),
    Effect.flatMap((text) => Effect.fromResult(parseConfigText(file, text))),
  )
