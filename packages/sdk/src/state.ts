import { toJson } from "@bufbuild/protobuf"
import { ValueSchema as PbValueSchema } from "@bufbuild/protobuf/wkt"
import { type Value, valueToProto } from "@oprc/models"
import type { commonv1 } from "@oprc/proto"
import { Cause, Exit, Schema } from "effect"
import type { StateSchema } from "./define.ts"

/**
 * The wire mapping of a class's state: each field of the state Struct is one entry holding a JSON
 * value (or bytes for Uint8Array fields). Entries the schema does not name are left alone, and
 * only the fields whose encoded value changed are written back.
 */

/** One entry of an object's state: the platform's object model (`Value` of @oprc/models). */
export type EntryValue = Value

const entryFromProto = (v: commonv1.Value): EntryValue | undefined => {
  switch (v.kind.case) {
    case "bytes":
      return v.kind.value
    case "json":
      return toJson(PbValueSchema, v.kind.value)
    default:
      return undefined
  }
}

/** The one proto mapping of a value (@oprc/models). */
export const entryToProto = valueToProto

export const entriesFromProto = (entries: Record<string, commonv1.Value>): Record<string, EntryValue> => {
  const out: Record<string, EntryValue> = {}
  for (const [k, v] of Object.entries(entries)) {
    const value = entryFromProto(v)
    if (value !== undefined) out[k] = value
  }
  return out
}

export type Decoded<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly message: string }

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e))

export const decodeWith = <A>(schema: Schema.Codec<A, unknown, never, never>, input: unknown): Decoded<A> => {
  const exit = Schema.decodeUnknownExit(schema)(input)
  return Exit.isSuccess(exit)
    ? { ok: true, value: exit.value }
    : { ok: false, message: Exit.isFailure(exit) ? prettyCause(exit.cause) : "" }
}

export const encodeWith = <A>(schema: Schema.Codec<A, unknown, never, never>, value: A): Decoded<unknown> => {
  const exit = Schema.encodeUnknownExit(schema)(value)
  return Exit.isSuccess(exit)
    ? { ok: true, value: exit.value }
    : { ok: false, message: Exit.isFailure(exit) ? prettyCause(exit.cause) : "" }
}

const prettyCause = (cause: Cause.Cause<unknown>): string => {
  const text = errorText(Cause.squash(cause))
  return text.length > 500 ? `${text.slice(0, 500)}…` : text
}

/** The encoded state as entries (drops `undefined` fields: they are absent). */
const asEntries = (encoded: unknown): Record<string, EntryValue> => {
  const out: Record<string, EntryValue> = {}
  if (encoded === null || typeof encoded !== "object") return out
  for (const [k, v] of Object.entries(encoded)) {
    if (v !== undefined) out[k] = v as EntryValue
  }
  return out
}

export interface LoadedState {
  readonly state: object
  /** The encoded form of the state as loaded (defaults applied), the baseline of the diff. */
  readonly baseline: Record<string, EntryValue>
  readonly stored: Record<string, EntryValue>
}

export const loadState = (schema: StateSchema, entries: Record<string, EntryValue>): Decoded<LoadedState> => {
  const decoded = decodeWith(schema, entries)
  if (!decoded.ok) return { ok: false, message: `object state does not match the class: ${decoded.message}` }
  const encoded = encodeWith(schema, decoded.value)
  if (!encoded.ok) return { ok: false, message: `object state cannot be encoded: ${encoded.message}` }
  // A structured copy, so handler mutations cannot alias the baseline.
  return {
    ok: true,
    value: { state: structuredClone(decoded.value), baseline: asEntries(encoded.value), stored: entries },
  }
}

export interface Changes {
  readonly set: Record<string, EntryValue>
  readonly delete: ReadonlyArray<string>
}

/** What the handler changed: fields whose encoded value differs from the baseline. */
export const diffState = (schema: StateSchema, loaded: LoadedState, after: object): Decoded<Changes> => {
  const encoded = encodeWith(schema, after)
  if (!encoded.ok) return { ok: false, message: `the new state does not match the class: ${encoded.message}` }
  const next = asEntries(encoded.value)
  const set: Record<string, EntryValue> = {}
  for (const [k, v] of Object.entries(next)) {
    if (!(k in loaded.baseline) || !sameValue(loaded.baseline[k], v)) set[k] = v
  }
  const deleted = Object.keys(loaded.baseline).filter((k) => !(k in next) && k in loaded.stored)
  return { ok: true, value: { set, delete: deleted } }
}

const sameValue = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.from(a).equals(Buffer.from(b))
  }
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return false
  return ka.every((k) =>
    Object.hasOwn(b, k) && sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])
  )
}
