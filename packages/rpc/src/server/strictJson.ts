import type { DescEnum, DescField, DescMessage } from "@bufbuild/protobuf"
import { editDistance } from "@oprc/models/distance"

/**
 * The Connect JSON pre-pass: walks a parsed request body along the request's message descriptor
 * before protobuf-es decodes it. It refuses unknown fields (naming the path, with a "did you
 * mean" when a field name is close) and unknown enum values, and rewrites short enum spellings
 * (`INTERNAL`, `running`) to the proto names (`ACCESS_MODIFIER_INTERNAL`), so one spelling table
 * holds on every edge and nothing is defaulted silently (connect-es' default JSON options ignore
 * unknown fields and unknown enum strings, turning `"access":"INTERNAL"` into PUBLIC).
 */

export interface Violation {
  readonly path: string
  readonly message: string
}

/** Reported violations per request; the rest are counted in the mapper's "N more". */
const MAX_VIOLATIONS = 100

interface MessageIndex {
  readonly byName: ReadonlyMap<string, DescField>
  readonly names: ReadonlyArray<string>
}

const indexes = new WeakMap<DescMessage, MessageIndex>()
const indexOf = (desc: DescMessage): MessageIndex => {
  let index = indexes.get(desc)
  if (index === undefined) {
    const byName = new Map<string, DescField>()
    for (const f of desc.fields) {
      byName.set(f.jsonName, f)
      byName.set(f.name, f)
    }
    index = { byName, names: desc.fields.map((f) => f.jsonName) }
    indexes.set(desc, index)
  }
  return index
}

/** "ACCESS_MODIFIER_" for AccessModifier (protobuf-es stores it lower-case). */
const prefixOf = (desc: DescEnum): string => desc.sharedPrefix?.toUpperCase() ?? ""

const enumIndexes = new WeakMap<DescEnum, ReadonlyMap<string, string>>()
/** Every accepted spelling (full name, short name; upper-cased) -> the proto name. */
const enumIndexOf = (desc: DescEnum): ReadonlyMap<string, string> => {
  let index = enumIndexes.get(desc)
  if (index === undefined) {
    const m = new Map<string, string>()
    const prefix = prefixOf(desc)
    for (const v of desc.values) {
      m.set(v.name.toUpperCase(), v.name)
      if (prefix !== "" && v.name.startsWith(prefix)) m.set(v.name.slice(prefix.length), v.name)
    }
    index = m
    enumIndexes.set(desc, index)
  }
  return index
}

const shortNames = (desc: DescEnum): string => {
  const prefix = prefixOf(desc)
  return desc.values
    .filter((v) => v.number !== 0)
    .map((v) => (prefix !== "" && v.name.startsWith(prefix) ? v.name.slice(prefix.length) : v.name))
    .join(", ")
}

const didYouMean = (given: string, names: ReadonlyArray<string>): string => {
  if (given.length > 64) return ""
  let best: string | undefined
  let bestDistance = Math.max(2, Math.floor(given.length / 3)) + 1
  for (const n of names) {
    const d = editDistance(given.toLowerCase(), n.toLowerCase())
    if (d < bestDistance) {
      best = n
      bestDistance = d
    }
  }
  return best === undefined ? "" : `; did you mean "${best}"?`
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v)

const join = (
  path: string,
  key: string | number,
) => (typeof key === "number" ? `${path}[${key}]` : path === "" ? key : `${path}.${key}`)

/** Shown keys are cut: a 1 MB key must not make a 1 MB error message. */
const shown = (s: string) => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}...` : s)

/**
 * Checks and normalises `value` in place for message `desc`. Returns the violations found (at
 * most {@link MAX_VIOLATIONS}, then a count of the rest under path "").
 */
export const normalizeConnectJson = (desc: DescMessage, value: unknown): ReadonlyArray<Violation> => {
  const out: Array<Violation> = []
  let more = 0
  const report = (path: string, message: string) => {
    if (out.length < MAX_VIOLATIONS) out.push({ path, message })
    else more++
  }

  const enumValue = (e: DescEnum, v: unknown, path: string): unknown => {
    if (typeof v === "string") {
      const name = enumIndexOf(e).get(v.toUpperCase())
      if (name !== undefined) return name
      report(path, `unknown value ${shown(v)}; use one of ${shortNames(e)}`)
      return v
    }
    if (typeof v === "number" && !e.values.some((x) => x.number === v)) {
      report(path, `unknown value ${v}; use one of ${shortNames(e)}`)
    }
    return v
  }

  // Work list instead of recursion: the body's depth is bounded already, but the walk must not
  // depend on that for its own safety.
  const work: Array<{ readonly desc: DescMessage; readonly value: unknown; readonly path: string }> = [{
    desc,
    value,
    path: "",
  }]
  while (work.length > 0) {
    const item = work.pop()!
    // Well-known types (Struct, Value, Timestamp, Duration, wrappers, Any) have their own JSON
    // forms; protobuf-es checks those.
    if (item.desc.typeName.startsWith("google.protobuf.")) continue
    if (!isPlainObject(item.value)) continue
    const obj = item.value
    const index = indexOf(item.desc)
    for (const key of Object.keys(obj)) {
      const path = join(item.path, key)
      const field = index.byName.get(key)
      if (field === undefined) {
        report(path, `unknown field ${shown(key)}${didYouMean(key, index.names)}`)
        continue
      }
      const v = obj[key]
      if (v === null) continue
      switch (field.fieldKind) {
        case "enum":
          obj[key] = enumValue(field.enum, v, path)
          break
        case "message":
          work.push({ desc: field.message, value: v, path })
          break
        case "list":
          if (!Array.isArray(v)) break
          if (field.listKind === "enum") v.forEach((x, i) => (v[i] = enumValue(field.enum, x, join(path, i))))
          else if (field.listKind === "message") {
            v.forEach((x, i) => work.push({ desc: field.message, value: x, path: join(path, i) }))
          }
          break
        case "map":
          if (!isPlainObject(v)) break
          if (field.mapKind === "enum") {
            for (const k of Object.keys(v)) v[k] = enumValue(field.enum, v[k], join(path, k))
          } else if (field.mapKind === "message") {
            for (const k of Object.keys(v)) work.push({ desc: field.message, value: v[k], path: join(path, k) })
          }
          break
        default:
          break
      }
    }
  }
  if (more > 0) out.push({ path: "", message: `${more} more violations not shown` })
  return out
}
