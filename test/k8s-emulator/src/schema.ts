// Custom resources against their CRD's structural schema: prune unknown fields (unless
// x-kubernetes-preserve-unknown-fields), apply defaults, then validate with field paths.
import { type FieldError, fieldError, invalid, required } from "./errors.ts"
import { clone, deepEqual, isObject, type Obj } from "./types.ts"

const ROOT_KEEP = new Set(["apiVersion", "kind", "metadata"])

/**
 * Prunes and defaults `obj` in place (the order the real server uses), then validates it.
 * The paths of pruned fields go to `pruned` (for fieldValidation Warn/Strict).
 */
export function admitCustomResource(obj: Obj, schema: Obj | undefined, pruned: string[] = []): FieldError[] {
  if (!schema) return []
  pruneNode(obj, schema, "", pruned, true)
  defaultNode(obj, schema)
  const errors: FieldError[] = []
  validateNode(obj, schema, "", errors, true)
  return errors
}

/** Only the pruning step (an applied configuration is partial: it is defaulted and validated merged). */
export function pruneCustomResource(obj: Obj, schema: Obj | undefined, pruned: string[] = []): void {
  if (schema) pruneNode(obj, schema, "", pruned, true)
}

const preserves = (s: Obj) => s["x-kubernetes-preserve-unknown-fields"] === true

function pruneNode(v: unknown, s: Obj, path: string, pruned: string[], root = false): void {
  if (s["x-kubernetes-int-or-string"] === true) return
  if (isObject(v)) {
    const props = isObject(s.properties) ? s.properties : undefined
    const additional = s.additionalProperties
    for (const k of Object.keys(v)) {
      if (root && ROOT_KEEP.has(k)) continue
      const ps = props?.[k]
      if (isObject(ps)) pruneNode(v[k], ps, join(path, k), pruned)
      else if (isObject(additional)) pruneNode(v[k], additional, join(path, k), pruned)
      else if (additional === true || preserves(s)) continue
      else {
        pruned.push(join(path, k))
        delete v[k]
      }
    }
  } else if (Array.isArray(v) && isObject(s.items)) {
    v.forEach((item, i) => pruneNode(item, s.items, `${path}[${i}]`, pruned))
  }
}

function defaultNode(v: unknown, s: Obj): void {
  if (isObject(v)) {
    for (const [k, ps] of Object.entries((s.properties ?? {}) as Obj)) {
      if (!isObject(ps)) continue
      if (v[k] === undefined && ps.default !== undefined) v[k] = clone(ps.default)
      if (v[k] !== undefined) defaultNode(v[k], ps)
    }
    if (isObject(s.additionalProperties)) {
      for (const k of Object.keys(v)) if (!s.properties?.[k]) defaultNode(v[k], s.additionalProperties)
    }
  } else if (Array.isArray(v) && isObject(s.items)) {
    for (const item of v) defaultNode(item, s.items)
  }
}

const typeName = (v: unknown) =>
  v === null
    ? "null"
    : Array.isArray(v)
    ? "array"
    : typeof v === "number"
    ? (Number.isInteger(v) ? "integer" : "number")
    : typeof v === "object"
    ? "object"
    : typeof v

function typeMatches(v: unknown, t: string): boolean {
  switch (t) {
    case "object":
      return isObject(v)
    case "array":
      return Array.isArray(v)
    case "string":
      return typeof v === "string"
    case "integer":
      return typeof v === "number" && Number.isInteger(v)
    case "number":
      return typeof v === "number"
    case "boolean":
      return typeof v === "boolean"
    default:
      return true
  }
}

const join = (path: string, k: string) => (path === "" ? k : `${path}.${k}`)

function validateNode(v: unknown, s: Obj, path: string, errors: FieldError[], root = false): void {
  const at = path === "" ? "<root>" : path
  if (v === null) {
    if (s.nullable === true) return
    if (s.type) errors.push(invalid(at, "null", `${at} in body must be of type ${s.type}: "null"`))
    return
  }
  if (s["x-kubernetes-int-or-string"] === true) {
    if (typeof v !== "string" && !(typeof v === "number" && Number.isInteger(v))) {
      errors.push(invalid(at, typeName(v), `${at} in body must be of type integer,string: "${typeName(v)}"`))
    }
    return
  }
  if (typeof s.type === "string" && !typeMatches(v, s.type)) {
    errors.push(invalid(at, typeName(v), `${at} in body must be of type ${s.type}: "${typeName(v)}"`))
    return
  }
  if (Array.isArray(s.enum) && !s.enum.some((e: unknown) => deepEqual(e, v))) {
    errors.push(
      fieldError(
        "FieldValueNotSupported",
        at,
        `Unsupported value: ${JSON.stringify(v)}: supported values: ${
          s.enum.map((e: unknown) => JSON.stringify(e)).join(", ")
        }`,
      ),
    )
  }
  if (typeof v === "string") checkString(v, s, at, errors)
  if (typeof v === "number") checkNumber(v, s, at, errors)
  if (Array.isArray(v)) checkArray(v, s, path, errors)
  if (isObject(v)) checkObject(v, s, path, errors, root)
  for (const [key, combine] of [["allOf", "all"], ["anyOf", "any"], ["oneOf", "one"]] as const) {
    const subs = s[key]
    if (!Array.isArray(subs)) continue
    const passing = subs.filter((sub: Obj) => {
      const errs: FieldError[] = []
      validateNode(v, { ...sub, type: sub.type ?? undefined }, path, errs)
      if (combine === "all") errors.push(...errs)
      return errs.length === 0
    }).length
    if (combine === "any" && passing === 0) {
      errors.push(invalid(at, v, `${at} in body must match at least one schema in anyOf`))
    }
    if (combine === "one" && passing !== 1) {
      errors.push(invalid(at, v, `${at} in body must match exactly one schema in oneOf`))
    }
  }
  if (isObject(s.not)) {
    const errs: FieldError[] = []
    validateNode(v, s.not, path, errs)
    if (errs.length === 0) errors.push(invalid(at, v, `${at} in body must not validate the schema (not)`))
  }
}

function checkString(v: string, s: Obj, at: string, errors: FieldError[]) {
  if (typeof s.maxLength === "number" && v.length > s.maxLength) {
    errors.push(fieldError("FieldValueTooLong", at, `Too long: may not be longer than ${s.maxLength}`))
  }
  if (typeof s.minLength === "number" && v.length < s.minLength) {
    errors.push(invalid(at, v, `${at} in body should be at least ${s.minLength} chars long`))
  }
  if (typeof s.pattern === "string" && !new RegExp(s.pattern, "u").test(v)) {
    errors.push(invalid(at, v, `${at} in body should match '${s.pattern}'`))
  }
  if (s.format === "date-time" && Number.isNaN(Date.parse(v))) {
    errors.push(invalid(at, v, `${at} in body must be of type date-time: ${JSON.stringify(v)}`))
  }
}

function checkNumber(v: number, s: Obj, at: string, errors: FieldError[]) {
  if (typeof s.minimum === "number" && (s.exclusiveMinimum === true ? v <= s.minimum : v < s.minimum)) {
    errors.push(invalid(at, v, `${at} in body should be greater than or equal to ${s.minimum}`))
  }
  if (typeof s.maximum === "number" && (s.exclusiveMaximum === true ? v >= s.maximum : v > s.maximum)) {
    errors.push(invalid(at, v, `${at} in body should be less than or equal to ${s.maximum}`))
  }
  if (typeof s.multipleOf === "number" && v % s.multipleOf !== 0) {
    errors.push(invalid(at, v, `${at} in body should be a multiple of ${s.multipleOf}`))
  }
}

function checkArray(v: unknown[], s: Obj, path: string, errors: FieldError[]) {
  const at = path === "" ? "<root>" : path
  if (typeof s.maxItems === "number" && v.length > s.maxItems) {
    errors.push(fieldError("FieldValueTooMany", at, `Too many: ${v.length}: must have at most ${s.maxItems} items`))
  }
  if (typeof s.minItems === "number" && v.length < s.minItems) {
    errors.push(invalid(at, v, `${at} in body should have at least ${s.minItems} items`))
  }
  const listType = s["x-kubernetes-list-type"]
  const keys = s["x-kubernetes-list-map-keys"] as string[] | undefined
  const seen: unknown[] = []
  v.forEach((item, i) => {
    const itemPath = `${path}[${i}]`
    if (isObject(s.items)) validateNode(item, s.items, itemPath, errors)
    const identity = listType === "map" && keys && isObject(item)
      ? keys.map((k) => item[k])
      : listType === "set"
      ? item
      : undefined
    if (identity !== undefined) {
      if (seen.some((x) => deepEqual(x, identity))) {
        errors.push(fieldError("FieldValueDuplicate", itemPath, `Duplicate value: ${JSON.stringify(item)}`))
      }
      seen.push(identity)
    }
  })
}

function checkObject(v: Obj, s: Obj, path: string, errors: FieldError[], root: boolean) {
  for (const r of (s.required ?? []) as string[]) if (v[r] === undefined) errors.push(required(join(path, r)))
  const props = (s.properties ?? {}) as Obj
  for (const [k, child] of Object.entries(v)) {
    if (root && ROOT_KEEP.has(k)) continue
    const ps = props[k]
    if (isObject(ps)) validateNode(child, ps, join(path, k), errors)
    else if (isObject(s.additionalProperties)) validateNode(child, s.additionalProperties, join(path, k), errors)
  }
  const n = Object.keys(v).length
  if (typeof s.maxProperties === "number" && n > s.maxProperties) {
    errors.push(
      fieldError("FieldValueTooMany", path || "<root>", `Too many: ${n}: must have at most ${s.maxProperties} items`),
    )
  }
  if (typeof s.minProperties === "number" && n < s.minProperties) {
    errors.push(
      invalid(path || "<root>", v, `${path || "<root>"} in body should have at least ${s.minProperties} properties`),
    )
  }
}

/**
 * The structural-schema rules the real server enforces on a CRD version's openAPIV3Schema:
 * every specified field has a type (unless int-or-string or preserve-unknown-fields), arrays
 * have items, and properties and additionalProperties exclude each other.
 */
export function structuralErrors(s: Obj, path: string, root = true): FieldError[] {
  const errors: FieldError[] = []
  const loose = s["x-kubernetes-int-or-string"] === true || s["x-kubernetes-preserve-unknown-fields"] === true
  if (!root && (typeof s.type !== "string" || s.type === "") && !loose) {
    errors.push(
      fieldError("FieldValueRequired", `${path}.type`, "Required value: must not be empty for specified object fields"),
    )
  }
  if (s.type === "array" && !isObject(s.items)) {
    errors.push(fieldError("FieldValueRequired", `${path}.items`, "Required value: must be specified"))
  }
  if (isObject(s.properties) && s.additionalProperties !== undefined && s.additionalProperties !== false) {
    errors.push(
      fieldError(
        "FieldValueForbidden",
        `${path}.additionalProperties`,
        "Forbidden: additionalProperties and properties are mutual exclusive",
      ),
    )
  }
  for (const [k, child] of Object.entries((s.properties ?? {}) as Obj)) {
    if (isObject(child)) errors.push(...structuralErrors(child, `${path}.properties[${k}]`, false))
  }
  if (isObject(s.items)) errors.push(...structuralErrors(s.items, `${path}.items`, false))
  if (isObject(s.additionalProperties)) {
    errors.push(...structuralErrors(s.additionalProperties, `${path}.additionalProperties`, false))
  }
  return errors
}
