import { type Effect, Schema } from "effect"
import { tracedFn } from "@oprc/observability"
import { AccessModifier, Consistency } from "./enums"
import type { ValidationError } from "./errors"
import {
  BindingName,
  GlobalClassKey,
  isHttpUrl,
  Millis,
  ObjectId,
  optArray,
  optBoolean,
  optChecked,
  optLiteral,
  optString,
  optUInt,
  optUInt32,
  stringCheck,
  withDefault,
} from "./fields"
import { Violations } from "./bounds"
import { checkEntries, checkInputShape, collectionShape, ObjectLimits, violationsError } from "./input-limits"
import { decodeWith } from "./issues"
import { Trigger } from "./package"
import { MAX_PARTITIONS } from "./deployment"
import type { PathIssue } from "./package-checks"

/** Objects of the data grid and the collections (one per class) that hold them: oprc.odgm.v1. */

/**
 * An entry value: any JSON value (the common case), or raw bytes. Finite numbers only, since
 * google.protobuf.Value and JSON cannot carry NaN or Infinity.
 */
export const Value = Schema.Union([Schema.Uint8Array, Schema.Json]).annotate({ expected: "a JSON value or bytes" })
export type Value = typeof Value.Type

const bindingKeyIssues = (m: object): Array<PathIssue> =>
  Object.keys(m).flatMap((k) =>
    Schema.is(BindingName)(k) ? [] : [{ path: [k], issue: `${JSON.stringify(k)} is not a binding name` }]
  )

const isRecord = (u: unknown): u is Record<string, unknown> => u !== null && typeof u === "object" && !Array.isArray(u)

/** An object: versioned entries of one class, living in one partition. */
export const DataObject = Schema.Struct({
  /** Global class key "<package>.<Class>". */
  cls: GlobalClassKey,
  partition: optUInt32,
  id: ObjectId,
  /** Bumped by one on every committed change (0 = never stored). */
  version: optUInt,
  entries: withDefault(Schema.Record(Schema.String, Value), {}, (m) => Object.keys(m).length === 0),
  createdAt: Schema.optionalKey(Millis),
  updatedAt: Schema.optionalKey(Millis),
  /** Per-object triggers, in addition to the class-level ones. */
  triggers: optArray(Trigger),
})
export type DataObject = typeof DataObject.Type

const decodeObjectSchema = decodeWith(DataObject)
export const decodeObject: (input: unknown) => Effect.Effect<DataObject, ValidationError> = tracedFn(
  "Models.decodeObject",
)(function*(input: unknown) {
  const limits = yield* ObjectLimits
  const v = new Violations()
  const { entries, triggers } = isRecord(input) ? input : {}
  if (isRecord(entries)) checkEntries(entries, limits, v)
  if (Array.isArray(triggers) && triggers.length > limits.maxObjectTriggers) {
    v.add("triggers", `has ${triggers.length} items; at most ${limits.maxObjectTriggers} are allowed`)
  }
  if (v.size > 0) return yield* violationsError(v)
  return yield* decodeObjectSchema(input)
})

/** Where and how ODGM invokes one binding of a collection. */
export const FunctionRoute = Schema.Struct({
  /** Base URL of a FunctionService server; "" while the function has no address yet (invocations are UNAVAILABLE). */
  url: optChecked(isHttpUrl, (s) => `${JSON.stringify(s)} is not an http(s) URL`),
  stateless: optBoolean,
  access: optLiteral(AccessModifier, "PUBLIC"),
  /** Per-call deadline; 0 = the server's default. */
  timeoutMs: optUInt32,
  /** Function key in its package (informational). */
  functionKey: optString,
  /** Every replica's base URL (the CRM keeps it current); invocations are spread over them. Empty: `url` alone. */
  urls: Schema.optionalKey(
    Schema.Array(Schema.String.check(stringCheck(isHttpUrl, (u) => `${JSON.stringify(u)} is not an http(s) URL`))),
  ),
})
export type FunctionRoute = typeof FunctionRoute.Type

const CollectionFields = Schema.Struct({
  /** The class's global key, "<package>.<Class>". */
  name: GlobalClassKey,
  partitionCount: withDefault(
    Schema.Number.check(
      Schema.makeFilter((n: number) =>
        (Number.isInteger(n) && n >= 1 && n <= MAX_PARTITIONS) || `must be an integer from 1 to ${MAX_PARTITIONS}`
      ),
    ),
    1,
    (n) => n === 1,
  ),
  /** Binding name -> route. */
  functions: withDefault(
    Schema.Record(Schema.String, FunctionRoute).check(Schema.makeFilter(bindingKeyIssues)),
    {},
    (m) => Object.keys(m).length === 0,
  ),
  triggers: optArray(Trigger),
  consistency: optLiteral(Consistency, "EVENTUAL"),
})

const collectionIssues = (c: typeof CollectionFields.Type): Array<PathIssue> =>
  c.triggers.flatMap((t, i): Array<PathIssue> => {
    const out: Array<PathIssue> = []
    if ((t.event === "FUNC_COMPLETE" || t.event === "FUNC_ERROR") && !Object.hasOwn(c.functions, t.source)) {
      out.push({ path: ["triggers", i, "source"], issue: `"${t.source}" is not a function of collection "${c.name}"` })
    }
    if ((t.target.cls === "" || t.target.cls === c.name) && !Object.hasOwn(c.functions, t.target.function)) {
      out.push({
        path: ["triggers", i, "target", "function"],
        issue: `"${t.target.function}" is not a function of collection "${c.name}"`,
      })
    }
    return out
  })

/** A collection: the data-grid side of one deployed class. */
export const Collection = CollectionFields.check(Schema.makeFilter(collectionIssues))
export type Collection = typeof Collection.Type

const decodeCollectionSchema = decodeWith(Collection)
export const decodeCollection: (input: unknown) => Effect.Effect<Collection, ValidationError> = tracedFn(
  "Models.decodeCollection",
)(function*(input: unknown) {
  yield* ObjectLimits.use((l) => checkInputShape(input, collectionShape(l)))
  return yield* decodeCollectionSchema(input)
})
