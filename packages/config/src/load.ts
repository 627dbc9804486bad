import { Effect, Result, Schema, SchemaAST, SchemaIssue } from "effect"
import { type FlagMap, parseArgsWith } from "./args.ts"
import { coerce } from "./coerce.ts"
import { type ConfigIssue, ConfigLoadError, type ConfigSource } from "./errors.ts"
import { type ConfigFile, defaultReadFile, loadConfigFile, type ReadFile } from "./file.ts"
import { describeSchema, isSensitivePath } from "./spec.ts"

export interface LoadOptions {
  /** Command-line arguments without the runtime and script: `process.argv.slice(2)`. */
  readonly argv: ReadonlyArray<string>
  /** The environment, passed in so the library never reads `process.env` itself. */
  readonly env: Readonly<Record<string, string | undefined>>
  /** Service-specific flags, e.g. `{ "--port": "server.port" }`. */
  readonly flags?: FlagMap
  readonly readFile?: ReadFile
  /** Environment variable prefix, "OPRC" unless given. */
  readonly envPrefix?: string
  /** Accept keys in the file that the schema does not know (by default they are errors, to catch typos). */
  readonly allowUnknownKeys?: boolean
}

type Path = ReadonlyArray<PropertyKey>

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const setIn = (tree: Record<string, unknown>, path: ReadonlyArray<string>, value: unknown): void => {
  const [head, ...rest] = path
  if (head === undefined) return
  if (rest.length === 0) {
    tree[head] = value
    return
  }
  const child = tree[head]
  const next = isRecord(child) ? child : {}
  tree[head] = next
  setIn(next, rest, value)
}

const getIn = (tree: unknown, path: Path): unknown =>
  path.reduce<unknown>(
    (node, key) => (isRecord(node) || Array.isArray(node) ? Reflect.get(node, key) : undefined),
    tree,
  )

// Objects merge key by key; anything else (arrays included) is replaced by the later layer.
const merge = (base: unknown, over: unknown): unknown =>
  isRecord(base) && isRecord(over)
    ? Object.fromEntries(
      [...new Set([...Object.keys(base), ...Object.keys(over)])].map((
        k,
      ) => [k, k in over ? merge(base[k], over[k]) : base[k]]),
    )
    : over

const renderPath = (path: Path): string =>
  path.reduce<string>(
    (acc, key) => typeof key === "number" ? `${acc}[${key}]` : acc === "" ? String(key) : `${acc}.${String(key)}`,
    "",
  )

const keyPart = (path: Path): ReadonlyArray<string> => {
  const end = path.findIndex((k) => typeof k !== "string")
  return (end === -1 ? path : path.slice(0, end)).map(String)
}

const show = (value: unknown): string => {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 80 ? `${text.slice(0, 77)}...` : text
}

const MISSING = "is required"
const UNKNOWN = "unknown key"
// A wrong type ("abc" for a port) is explained with the schema's own `expected` text when it
// has one, so it reads the same as an out-of-range value: "expected an integer between ...".
const formatter = SchemaIssue.makeFormatterStandardSchemaV1({
  leafHook: (issue) => {
    if (issue._tag === "MissingKey") return MISSING
    if (issue._tag === "UnexpectedKey") return UNKNOWN
    const expected = issue._tag === "InvalidType" ? SchemaAST.resolveAt<unknown>("expected")(issue.ast) : undefined
    return typeof expected === "string" ? `expected ${expected}` : SchemaIssue.defaultLeafHook(issue)
  },
})

interface Layers {
  readonly schema: Schema.Top
  readonly merged: unknown
  readonly file: ConfigFile | undefined
  readonly origins: ReadonlyMap<string, ConfigSource>
}

const sourceOf = ({ file, origins }: Layers, path: Path): ConfigSource | undefined => {
  const keys = keyPart(path)
  for (let n = keys.length; n > 0; n--) {
    const origin = origins.get(keys.slice(0, n).join("."))
    if (origin !== undefined) return origin
  }
  if (file === undefined || getIn(file.data, path) === undefined) return undefined
  const at = file.locate(path)
  return at === undefined ? { _tag: "File", file: file.file } : { _tag: "File", file: file.file, ...at }
}

const toConfigIssues = (layers: Layers, issue: SchemaIssue.Issue): ReadonlyArray<ConfigIssue> =>
  formatter(issue).issues.map(({ path: raw, message }) => {
    const path = (raw ?? []).map((p) => (typeof p === "object" ? p.key : p))
    const value = getIn(layers.merged, path)
    const got =
      message === MISSING || message === UNKNOWN || value === undefined || isSensitivePath(layers.schema.ast, path)
        ? ""
        : `, got ${show(value)}`
    const source = sourceOf(layers, path)
    const text = `${message.charAt(0).toLowerCase()}${message.slice(1)}${got}`
    return source === undefined
      ? { path: renderPath(path), message: text }
      : { path: renderPath(path), message: text, source }
  })

/**
 * Loads a service's configuration: schema defaults < `--config` file < `OPRC_*` environment
 * variables < command-line flags. Fails with every problem found, each naming its key and
 * where the value came from; secrets (`Redacted`) are never printed.
 */
export const loadConfig: <A>(schema: Schema.Decoder<A>, options: LoadOptions) => Effect.Effect<A, ConfigLoadError> =
  Effect.fn(
    "Config.load",
  )(function*<A>(schema: Schema.Decoder<A>, options: LoadOptions) {
    const spec = yield* Effect.sync(() => describeSchema(schema, options.envPrefix ?? "OPRC"))
    const args = yield* Effect.sync(() => parseArgsWith(spec, options.argv, options.flags ?? {}))
    const early: Array<ConfigIssue> = [...args.issues]
    let file: ConfigFile | undefined
    if (args.config !== undefined) {
      const loaded = yield* Effect.result(loadConfigFile(args.config, options.readFile ?? defaultReadFile))
      if (Result.isSuccess(loaded)) file = loaded.success
      else early.push(...loaded.failure)
    }
    // Without the file or with a broken command line, validating would only add noise
    // ("server.port is required" because the file that sets it could not be read).
    if (early.length > 0) return yield* new ConfigLoadError({ issues: early })

    const origins = new Map<string, ConfigSource>()
    const overrides: Record<string, unknown> = {}
    const coercionIssues: Array<ConfigIssue> = []
    const apply = (key: string, raw: string, source: ConfigSource) => {
      const leaf = spec.byKey.get(key)
      if (leaf === undefined) return
      const coerced = coerce(leaf.encoded, raw, leaf.sensitive)
      if (coerced._tag === "Invalid") {
        coercionIssues.push({ path: key, message: coerced.reason, source })
        return
      }
      setIn(overrides, leaf.path, coerced.value)
      origins.set(key, source)
    }
    // An empty variable counts as unset: `FOO=` in env files usually means "not configured".
    for (const leaf of spec.leaves) {
      const raw = options.env[leaf.env]
      if (raw !== undefined && raw !== "") apply(leaf.key, raw, { _tag: "Env", name: leaf.env })
    }
    for (const { key, value, flag } of args.assignments) apply(key, value, { _tag: "Flag", flag })

    const merged = merge(file?.data ?? {}, overrides)
    const decoded = yield* Effect.result(
      Schema.decodeUnknownEffect(schema)(merged, {
        errors: "all",
        onExcessProperty: options.allowUnknownKeys === true ? "ignore" : "error",
      }),
    )
    if (Result.isSuccess(decoded) && coercionIssues.length === 0) return decoded.success
    const schemaIssues = Result.isFailure(decoded)
      ? toConfigIssues({ schema, merged, file, origins }, decoded.failure.issue)
      : []
    // A value that could not even be read was left out, so the schema's complaint about that
    // key is a duplicate of the issue already reported for it.
    const covered = (issue: ConfigIssue) =>
      coercionIssues.some((c) =>
        issue.path === c.path || issue.path.startsWith(`${c.path}.`) || issue.path.startsWith(`${c.path}[`)
      )
    return yield* new ConfigLoadError({ issues: [...coercionIssues, ...schemaIssues.filter((i) => !covered(i))] })
  })
