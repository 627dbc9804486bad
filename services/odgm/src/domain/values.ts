import type { Entries, Value } from "./types.ts"

/** Entry values between their storage form (tagged) and the models' form (bytes | JSON). */

export type PlainValue = Uint8Array | unknown

export const fromPlain = (v: PlainValue): Value =>
  v instanceof Uint8Array ? { _tag: "Bytes", value: v } : { _tag: "Json", value: v }

export const toPlain = (v: Value): PlainValue => v.value

/** Deep equality of two entry values (data triggers fire on real changes only). */
export const sameValue = (a: Value | undefined, b: Value | undefined): boolean => {
  if (a === undefined || b === undefined) return a === b
  if (a._tag !== b._tag) return false
  if (a._tag === "Bytes" && b._tag === "Bytes") return Buffer.from(a.value).equals(Buffer.from(b.value))
  return sameJson(a.value, b.value)
}

// Loops, not Object.keys + every: a diff of 1024 entries of 100-item lists took ~40 ms that way.
const sameJson = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false
    return true
  }
  if (Array.isArray(b)) return false
  const x = a as Record<string, unknown>
  const y = b as Record<string, unknown>
  let count = 0
  for (const k in x) {
    if (!Object.hasOwn(x, k)) continue
    if (!Object.hasOwn(y, k) || !sameJson(x[k], y[k])) return false
    count++
  }
  for (const k in y) if (Object.hasOwn(y, k)) count--
  return count === 0
}

/** REST JSON of an entry: JSON as is; bytes as `{"$bytes": "<base64>"}`. */
const valueToJson = (v: Value): unknown =>
  v._tag === "Bytes" ? { $bytes: Buffer.from(v.value).toString("base64") } : v.value

export const entriesToJson = (e: Entries): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(e)) out[k] = valueToJson(e[k]!)
  return out
}

/** The inverse of valueToJson: a lone `$bytes` key (string) means bytes. */
export const valueFromJson = (j: unknown): Value => {
  if (j !== null && typeof j === "object" && !Array.isArray(j)) {
    const keys = Object.keys(j)
    const b = (j as Record<string, unknown>).$bytes
    if (keys.length === 1 && typeof b === "string") {
      return { _tag: "Bytes", value: new Uint8Array(Buffer.from(b, "base64")) }
    }
  }
  return { _tag: "Json", value: j }
}
