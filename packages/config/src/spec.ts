import { Option, Result, Schema, SchemaAST } from "effect"

/** A settable configuration key found by walking the schema. */
export interface Leaf {
  readonly path: ReadonlyArray<string>
  /** Dotted key path, e.g. "server.bodyLimitBytes". */
  readonly key: string
  /** Environment variable, e.g. "OPRC_SERVER_BODY_LIMIT_BYTES". */
  readonly env: string
  /** Encoded-side AST: what a file, variable or flag has to provide. */
  readonly encoded: SchemaAST.AST
  /** Holds a `Redacted` somewhere inside: its values must never be printed. */
  readonly sensitive: boolean
  /** Has to be given (no default) whenever its section is present. */
  readonly required: boolean
  /** The nearest optional section around this key, e.g. "server.tls". */
  readonly within: string | undefined
  /** Only help text shows it, so it is worked out on the first call (decoding it costs start-up time). */
  readonly defaultValue: () => Option.Option<unknown>
  readonly description: string | undefined
}

export interface ConfigSpec {
  readonly leaves: ReadonlyArray<Leaf>
  readonly byKey: ReadonlyMap<string, Leaf>
  readonly byEnv: ReadonlyMap<string, Leaf>
}

/** camelCase / PascalCase / kebab-case segment to UPPER_SNAKE ("bodyLimitBytes" -> "BODY_LIMIT_BYTES"). */
const toUpperSnake = (segment: string): string =>
  segment
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2")
    .replace(/[^A-Za-z0-9]+/g, "_")
    .toUpperCase()

export const envName = (prefix: string, path: ReadonlyArray<string>): string =>
  [prefix, ...path.map(toUpperSnake)].join("_")

const isRedacted = (ast: SchemaAST.AST): boolean => {
  const representation = SchemaAST.isDeclaration(ast) ? ast.annotations?.["representation"] : undefined
  return typeof representation === "object" && representation !== null && "id" in representation &&
    representation.id === "effect/schema/Redacted"
}

// A recursive schema (Suspend) is not followed, which could loop forever; it is assumed to
// hold a secret, so its values are never printed.
const containsRedacted = (ast: SchemaAST.AST): boolean => {
  if (isRedacted(ast)) return true
  switch (ast._tag) {
    case "Suspend":
      return true
    case "Declaration":
      return ast.typeParameters.some(containsRedacted)
    case "Arrays":
      return [...ast.elements, ...ast.rest].some(containsRedacted)
    case "Objects":
      return ast.propertySignatures.some((ps) => containsRedacted(ps.type)) ||
        ast.indexSignatures.some((is) => containsRedacted(is.type))
    case "Union":
      return ast.types.some(containsRedacted)
    default:
      return false
  }
}

const childrenAt = (ast: SchemaAST.AST, key: PropertyKey): ReadonlyArray<SchemaAST.AST> => {
  switch (ast._tag) {
    case "Objects": {
      const ps = ast.propertySignatures.find((p) => p.name === key)
      return ps !== undefined ? [ps.type] : ast.indexSignatures.map((is) => is.type)
    }
    case "Arrays": {
      const element = typeof key === "number" ? ast.elements[key] ?? ast.rest[0] : undefined
      return element === undefined ? [] : [element]
    }
    case "Union":
      return ast.types.flatMap((t) => childrenAt(t, key))
    case "Declaration":
      return isRedacted(ast) ? [] : ast.typeParameters.flatMap((t) => childrenAt(t, key))
    default:
      return []
  }
}

/**
 * Whether the value at `path` may hold a secret: it is, contains or sits inside a `Redacted`.
 * A path the schema does not describe counts as sensitive, since nothing is known about it.
 */
export const isSensitivePath = (ast: SchemaAST.AST, path: ReadonlyArray<PropertyKey>): boolean => {
  let nodes: ReadonlyArray<SchemaAST.AST> = [ast]
  for (const key of path) {
    if (nodes.some(isRedacted)) return true
    nodes = nodes.flatMap((node) => childrenAt(node, key))
    if (nodes.length === 0) return true
  }
  return nodes.some(containsRedacted)
}

const isStruct = (ast: SchemaAST.AST): ast is SchemaAST.Objects =>
  SchemaAST.isObjects(ast) && ast.indexSignatures.length === 0 && ast.propertySignatures.length > 0

const isNullish = (ast: SchemaAST.AST) => SchemaAST.isUndefined(ast) || SchemaAST.isNull(ast)

/** The struct(s) a value at this node is made of, or undefined when the node is a leaf. */
const structsOf = (ast: SchemaAST.AST): ReadonlyArray<SchemaAST.Objects> | undefined => {
  if (isStruct(ast)) return [ast]
  if (SchemaAST.isUnion(ast)) {
    const members = ast.types.filter((t) => !isNullish(t))
    if (members.length > 0 && members.every(isStruct)) return members.filter(isStruct)
  }
  // Schema.Class and friends: a declaration over a struct, walked like the struct itself.
  if (SchemaAST.isDeclaration(ast) && !isRedacted(ast) && ast.typeParameters.length === 1) {
    const inner = ast.typeParameters[0]
    if (inner !== undefined && isStruct(inner)) return [inner]
  }
  return undefined
}

// Decoding `{}` through a one-key struct runs the schema's own decoding default, so help text
// shows the value the loader would really use.
const defaultOf = (ps: SchemaAST.PropertySignature): Option.Option<unknown> => {
  const single = Schema.make<Schema.Decoder<Record<PropertyKey, unknown>>>(new SchemaAST.Objects([ps], []))
  // A default computed asynchronously cannot be run here; help then shows no default.
  const decoded = Result.flatMap(Result.try(() => Schema.decodeUnknownResult(single)({})), (r) => r)
  return Result.isSuccess(decoded) && ps.name in decoded.success
    ? Option.some(decoded.success[ps.name])
    : Option.none()
}

const memoized = <A>(compute: () => A): () => A => {
  let value: { readonly a: A } | undefined
  return () => (value ??= { a: compute() }).a
}

const unionEncoded = (a: SchemaAST.AST, b: SchemaAST.AST): SchemaAST.AST =>
  new SchemaAST.Union([...(SchemaAST.isUnion(a) ? a.types : [a]), b])

// A binary describes its schema twice at start-up (flags, then the loader): once is enough.
const described = new WeakMap<Schema.Top, Map<string, ConfigSpec>>()

/**
 * Derives every settable key of a config schema, with its environment variable name. Dies when
 * two keys map to the same variable: that is a defect of the schema, not of the user's input.
 */
export const describeSchema = (schema: Schema.Top, prefix = "OPRC"): ConfigSpec => {
  const byPrefix = described.get(schema) ?? new Map<string, ConfigSpec>()
  described.set(schema, byPrefix)
  const known = byPrefix.get(prefix)
  if (known !== undefined) return known
  const spec = walkSchema(schema, prefix)
  byPrefix.set(prefix, spec)
  return spec
}

const walkSchema = (schema: Schema.Top, prefix: string): ConfigSpec => {
  const leaves = new Map<string, Leaf>()
  const visit = (ast: SchemaAST.AST, path: ReadonlyArray<string>, within: string | undefined, inUnion: boolean) => {
    const structs = structsOf(ast) ?? []
    // Which keys a member of a union of structs needs depends on the member, so none of them
    // is reported as required.
    const conditional = inUnion || structs.length > 1
    for (const struct of structs) {
      for (const ps of struct.propertySignatures) {
        if (typeof ps.name !== "string") continue
        const childPath = [...path, ps.name]
        const key = childPath.join(".")
        if (structsOf(ps.type) !== undefined) {
          // A section with a decoding default is always there once decoded; only a section
          // that is optional in the decoded type makes the keys inside it conditional.
          visit(ps.type, childPath, SchemaAST.isOptional(ps.type) ? key : within, conditional)
          continue
        }
        const encoded = SchemaAST.toEncoded(ps.type)
        const seen = leaves.get(key)
        // A key present in several members of a union of structs accepts any member's type.
        leaves.set(
          key,
          seen !== undefined
            ? {
              ...seen,
              encoded: unionEncoded(seen.encoded, encoded),
              sensitive: seen.sensitive || containsRedacted(ps.type),
            }
            : {
              path: childPath,
              key,
              env: envName(prefix, childPath),
              encoded,
              sensitive: containsRedacted(ps.type),
              required: !conditional && !SchemaAST.isOptional(encoded),
              within,
              defaultValue: memoized(() => defaultOf(ps)),
              description: SchemaAST.resolveDescription(ps.type),
            },
        )
      }
    }
  }
  visit(schema.ast, [], undefined, false)
  const byEnv = new Map<string, Leaf>()
  for (const leaf of leaves.values()) {
    const clash = byEnv.get(leaf.env)
    if (clash !== undefined) {
      throw new Error(`config schema defect: ${clash.key} and ${leaf.key} both map to ${leaf.env}`)
    }
    byEnv.set(leaf.env, leaf)
  }
  return { leaves: [...leaves.values()], byKey: leaves, byEnv }
}
