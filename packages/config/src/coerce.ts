import { Result, SchemaAST } from "effect"

/**
 * Result of reading a string (env variable or flag) as a value of a leaf's encoded type.
 * Anything that cannot be converted is passed on as the raw string, so the schema reports it
 * with the leaf's own "expected ..." message; only malformed JSON is reported here, because the
 * parser's explanation is more useful than "expected an array".
 */
export type Coerced =
  | { readonly _tag: "Value"; readonly value: unknown }
  | { readonly _tag: "Invalid"; readonly reason: string }

const value = (v: unknown): Coerced => ({ _tag: "Value", value: v })

const TRUE = new Set(["true", "1", "yes", "on"])
const FALSE = new Set(["false", "0", "no", "off"])

const isScalar = (ast: SchemaAST.AST): boolean => {
  switch (ast._tag) {
    case "String":
    case "Number":
    case "Boolean":
    case "Literal":
    case "TemplateLiteral":
    case "Enum":
      return true
    case "Union":
      return ast.types.every((t) => isScalar(t) || SchemaAST.isUndefined(t) || SchemaAST.isNull(t))
    default:
      return false
  }
}

export const errorMessage = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)

// Parser messages can quote the offending text, which may be a secret.
const parseJson = (raw: string, expected: string, sensitive: boolean): Coerced =>
  Result.match(Result.try((): unknown => JSON.parse(raw)), {
    onSuccess: value,
    onFailure: (cause) => ({
      _tag: "Invalid",
      reason: sensitive ? `expected ${expected}` : `expected ${expected}: ${errorMessage(cause)}`,
    }),
  })

const coerceScalar = (ast: SchemaAST.AST, raw: string): unknown => {
  switch (ast._tag) {
    case "Number": {
      const n = Number(raw)
      return raw.trim() !== "" && Number.isFinite(n) ? n : raw
    }
    case "Boolean": {
      const lower = raw.trim().toLowerCase()
      return TRUE.has(lower) ? true : FALSE.has(lower) ? false : raw
    }
    case "Literal":
      return String(ast.literal) === raw ? ast.literal : raw
    case "Enum": {
      const hit = ast.enums.find(([, v]) => String(v) === raw)
      return hit === undefined ? raw : hit[1]
    }
    case "Union": {
      // The first member that turns the text into something other than the text itself wins:
      // "8080" in `number | "auto"` becomes 8080, "auto" stays "auto".
      for (const member of ast.types) {
        const converted = coerceScalar(member, raw)
        if (converted !== raw) return converted
      }
      return raw
    }
    default:
      return raw
  }
}

/** Converts `raw` to a value of the encoded type `ast`. */
export const coerce = (ast: SchemaAST.AST, raw: string, sensitive: boolean): Coerced => {
  if (isScalar(ast)) return value(coerceScalar(ast, raw))
  const trimmed = raw.trim()
  if (SchemaAST.isArrays(ast)) {
    if (trimmed.startsWith("[")) return parseJson(raw, "a JSON array", sensitive)
    const element = ast.rest[0] ?? ast.elements[0]
    if (element !== undefined && isScalar(element)) {
      // Comma-separated lists are what people write in env files: "a, b,c".
      const items = trimmed === "" ? [] : trimmed.split(",").map((s) => s.trim())
      return value(items.map((item) => coerceScalar(element, item)))
    }
    return { _tag: "Invalid", reason: "expected a JSON array" }
  }
  if (SchemaAST.isObjects(ast) || SchemaAST.isUnion(ast)) {
    if (trimmed.startsWith("{") || trimmed.startsWith("[")) return parseJson(raw, "a JSON value", sensitive)
    if (SchemaAST.isObjects(ast)) return { _tag: "Invalid", reason: "expected a JSON object" }
  }
  return value(raw)
}
