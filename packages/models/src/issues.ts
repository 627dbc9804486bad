import { Effect, Result, type Schema, type SchemaAST, type SchemaIssue, SchemaParser } from "effect"
import { type FieldViolation, ValidationError } from "./errors"
import { editDistance } from "./distance"

/** At most this many violations are reported; the rest are counted (bounds.ts re-exports it). */
export const MAX_VIOLATIONS = 100

/**
 * Turns Schema decoding failures into `{path, message}` violations that read like the rest of our
 * validation ("classes[0].key: must start with a letter ..."), instead of Schema's AST dumps.
 */

type Path = ReadonlyArray<PropertyKey>

const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/

/** `["classes", 0, "bindings", 1, "function"]` -> `classes[0].bindings[1].function`. */
export const formatPath = (path: Path): string => {
  let out = ""
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`
    else if (typeof key === "symbol") out += `[${String(key)}]`
    else if (identifier.test(key)) out += out === "" ? key : `.${key}`
    else out += `[${JSON.stringify(key)}]`
  }
  return out
}

/** Joins a prefix path ("deployments[0]") and a relative one ("nfr.availability"). */
export const joinPath = (prefix: string, path: string): string =>
  prefix === "" ? path : path === "" ? prefix : path.startsWith("[") ? prefix + path : `${prefix}.${path}`

const describe = (u: unknown): string => {
  if (u === undefined) return "nothing"
  if (u === null) return "null"
  if (typeof u === "string") return u.length > 60 ? `${JSON.stringify(u.slice(0, 57))}...` : JSON.stringify(u)
  if (typeof u === "number" || typeof u === "boolean") return String(u)
  if (typeof u === "bigint") return `${u}n`
  if (Array.isArray(u)) return "a list"
  if (u instanceof Uint8Array) return "bytes"
  if (typeof u === "object") return "an object"
  return `a ${typeof u}`
}

const expected = (ast: SchemaAST.AST): string => {
  const annotated = ast.annotations?.["expected"]
  if (typeof annotated === "string") return annotated
  switch (ast._tag) {
    case "String":
      return "a string"
    case "Number":
      return "a number"
    case "Boolean":
      return "true or false"
    case "BigInt":
      return "an integer"
    case "Null":
      return "null"
    case "Literal":
      return JSON.stringify(ast.literal)
    case "Arrays":
      return "a list"
    case "Objects":
      return ast.propertySignatures.length === 0 && ast.indexSignatures.length > 0 ? "a map" : "an object"
    case "Union":
      return ast.types.every((t) => t._tag === "Literal")
        ? `one of ${ast.types.map(expected).join(", ")}`
        : ast.types.map(expected).join(" or ")
    case "Declaration":
      return "a valid value"
    default:
      return ast._tag.toLowerCase()
  }
}

const camel = (s: string): string => s.replace(/[_-]([a-z0-9])/g, (_, c: string) => c.toUpperCase())

// Snake_case keys from the Rust format (function_key, class_key) are the likeliest typos.
const suggest = (key: PropertyKey | undefined, ast: SchemaAST.AST): string => {
  if (typeof key !== "string" || ast._tag !== "Objects") return ""
  const known = ast.propertySignatures.map((p) => p.name).filter((n): n is string => typeof n === "string")
  const lower = camel(key).toLowerCase()
  const hit = known.find((n) => n.toLowerCase() === lower)
    ?? known.find((n) => editDistance(n.toLowerCase(), lower) <= 2)
    ?? known.find((n) => n.length >= 3 && lower.includes(n.toLowerCase()))
  return hit === undefined ? "" : `; did you mean "${hit}"?`
}

const valueAt = (input: unknown, path: Path): unknown => {
  let cur = input
  for (const key of path) {
    if (cur === null || typeof cur !== "object") return undefined
    cur = Reflect.get(cur, key)
  }
  return cur
}

const annotationMessage = (annotations: Schema.Annotations.Annotations | undefined): string | undefined => {
  const message = annotations?.["message"]
  return typeof message === "string" ? message : undefined
}

/** Every leaf of the issue tree as a violation; `input` is the decoded input, to say what was given. */
export const issueViolations = (issue: SchemaIssue.Issue, input: unknown, prefix: Path = []): Array<FieldViolation> => {
  const out: Array<FieldViolation> = []
  const seen = new Set<string>()
  let omitted = 0
  // Bounded as it goes: an input with a million bad items must not build a million violations.
  const leaf = (path: Path, message: string): void => {
    const v = { path: formatPath(path), message }
    const k = `${v.path}\u0000${v.message}`
    if (seen.has(k)) return
    if (out.length >= MAX_VIOLATIONS) {
      omitted++
      return
    }
    seen.add(k)
    out.push(v)
  }
  const walk = (i: SchemaIssue.Issue, path: Path): void => {
    switch (i._tag) {
      case "Pointer":
        return walk(i.issue, [...path, ...i.path])
      case "Encoding":
        return walk(i.issue, path)
      case "Composite":
        return i.issues.forEach((x) => walk(x, path))
      case "AnyOf": {
        // Report the members that got past the type check (their errors are the useful ones);
        // when none did, one "expected A or B" line says it all.
        const deeper = i.ast.annotations?.["expected"] === undefined
          ? i.issues.filter((x) => x._tag !== "InvalidType")
          : []
        if (deeper.length > 0) return deeper.forEach((x) => walk(x, path))
        return leaf(path, `expected ${expected(i.ast)}, got ${describe(valueAt(input, path))}`)
      }
      case "Filter": {
        const own = annotationMessage(i.filter.annotations)
        if (own !== undefined) return leaf(path, own)
        if (i.issue._tag === "InvalidValue") {
          const inner = annotationMessage(i.issue.annotations)
          if (inner !== undefined) return leaf(path, inner)
          const exp = i.filter.annotations?.["expected"]
          if (typeof exp === "string") return leaf(path, `expected ${exp}, got ${describe(valueAt(input, path))}`)
          return leaf(path, `invalid value ${describe(valueAt(input, path))}`)
        }
        return walk(i.issue, path)
      }
      case "InvalidType":
        return leaf(path, `expected ${expected(i.ast)}, got ${describe(valueAt(input, path))}`)
      case "InvalidValue":
        return leaf(path, annotationMessage(i.annotations) ?? `invalid value ${describe(valueAt(input, path))}`)
      case "MissingKey":
        return leaf(path, "is required")
      case "UnexpectedKey":
        return leaf(path, `unknown field${suggest(path[path.length - 1], i.ast)}`)
      case "Forbidden":
        return leaf(path, annotationMessage(i.annotations) ?? "is not allowed")
      case "OneOf":
        return leaf(path, "matches more than one alternative")
    }
  }
  walk(issue, prefix)
  if (omitted > 0) out.push({ path: "", message: `and ${omitted} more violations not listed` })
  return out
}

const parseOptions: SchemaAST.ParseOptions = { errors: "all", onExcessProperty: "error" }

/**
 * Decodes with every problem reported (not just the first) and unknown fields rejected, so a typo
 * in a package file is an error rather than a silently ignored setting.
 */
export const decodeWith = <S extends Schema.ConstraintDecoder<unknown>>(schema: S) => {
  const decode = SchemaParser.decodeUnknownResult(schema, parseOptions)
  return (input: unknown): Effect.Effect<S["Type"], ValidationError> => {
    const result = decode(input)
    return Result.isSuccess(result)
      ? Effect.succeed(result.success)
      : Effect.fail(new ValidationError({ violations: issueViolations(result.failure, input) }))
  }
}

/** Fails with all violations when there are any. */
export const failIfAny = (violations: ReadonlyArray<FieldViolation>): Effect.Effect<void, ValidationError> =>
  violations.length === 0 ? Effect.void : Effect.fail(new ValidationError({ violations: [...violations] }))

/** Re-roots a ValidationError's paths under `prefix` (e.g. "deployments[2]"). */
export const prefixViolations = (prefix: string) => (error: ValidationError): ValidationError =>
  new ValidationError({
    violations: error.violations.map((v) => ({ path: joinPath(prefix, v.path), message: v.message })),
  })
