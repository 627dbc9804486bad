import { create } from "@bufbuild/protobuf"
import { NullValue, type Value as PbValue, ValueSchema as PbValueSchema } from "@bufbuild/protobuf/wkt"
import { commonv1, odgmv1 } from "@oprc/proto"
import { Effect, type Schema } from "effect"
import { type FieldViolation, ValidationError } from "../errors"
import { ObjectLimits } from "../input-limits"
import { formatPath, joinPath, MAX_VIOLATIONS } from "../issues"
import { type Collection, type DataObject, decodeCollection, decodeObject, type Value } from "../object"
import * as T from "./enums"
import { msField, num, triggerInput, triggerToProto, tsOf } from "./package"

/** Entry values, objects and collections <-> protos. JSON values travel as google.protobuf.Value. */

const jsonToProto = (j: Schema.Json): PbValue => {
  if (j === null) return create(PbValueSchema, { kind: { case: "nullValue", value: NullValue.NULL_VALUE } })
  if (typeof j === "number") return create(PbValueSchema, { kind: { case: "numberValue", value: j } })
  if (typeof j === "string") return create(PbValueSchema, { kind: { case: "stringValue", value: j } })
  if (typeof j === "boolean") return create(PbValueSchema, { kind: { case: "boolValue", value: j } })
  if (Array.isArray(j)) {
    return create(PbValueSchema, { kind: { case: "listValue", value: { values: j.map(jsonToProto) } } })
  }
  // fromEntries, not assignment: a "__proto__" key must stay a key.
  const fields = Object.fromEntries(Object.entries(j).map(([k, v]) => [k, jsonToProto(v)]))
  return create(PbValueSchema, { kind: { case: "structValue", value: { fields } } })
}

// `depth` is the container depth of `v` itself once it is a list or struct (the top level is 1),
// so recursion never goes below maxDepth + 1 however deep the message is.
const jsonFromProto = (
  v: PbValue,
  path: string,
  out: Array<FieldViolation>,
  maxDepth: number,
  depth = 1,
): Schema.Json => {
  switch (v.kind.case) {
    case "nullValue":
      return null
    case "numberValue":
      if (!Number.isFinite(v.kind.value)) {
        out.push({ path, message: "must be a finite number (JSON has no NaN or Infinity)" })
      }
      return v.kind.value
    case "stringValue":
    case "boolValue":
      return v.kind.value
    case "listValue":
      if (depth > maxDepth) return tooDeep(path, out, maxDepth)
      return v.kind.value.values.map((x, i) => jsonFromProto(x, `${path}[${i}]`, out, maxDepth, depth + 1))
    case "structValue":
      if (depth > maxDepth) return tooDeep(path, out, maxDepth)
      return Object.fromEntries(
        Object.entries(v.kind.value.fields).map((
          [k, x],
        ) => [k, jsonFromProto(x, joinPath(path, formatPath([k])), out, maxDepth, depth + 1)]),
      )
    case undefined:
      out.push({ path, message: "google.protobuf.Value has no kind set" })
      return null
  }
}

const tooDeep = (path: string, out: Array<FieldViolation>, maxDepth: number): null => {
  out.push({
    path,
    message:
      `is nested deeper than ${maxDepth} levels (limits.maxEntryDepth); function runtimes cannot take such state`,
  })
  return null
}

export const valueToProto = (v: Value): commonv1.Value =>
  v instanceof Uint8Array
    ? create(commonv1.ValueSchema, { kind: { case: "bytes", value: v } })
    : create(commonv1.ValueSchema, { kind: { case: "json", value: jsonToProto(v) } })

const valueOf = (msg: commonv1.Value, path: string, out: Array<FieldViolation>, maxDepth: number): Value => {
  switch (msg.kind.case) {
    case "bytes":
      return msg.kind.value
    case "json":
      return jsonFromProto(msg.kind.value, path, out, maxDepth)
    case undefined:
      out.push({ path, message: "must hold json or bytes" })
      return null
  }
}

/**
 * A value from the network; NaN / Infinity, unset kinds and nesting deeper than
 * ObjectLimits.maxEntryDepth are rejected (the last also for state a function returns: ODGM then
 * fails the invocation instead of storing state no runtime can load).
 */
export const valueFromProto = (msg: commonv1.Value): Effect.Effect<Value, ValidationError> =>
  ObjectLimits.use((limits) => {
    const out: Array<FieldViolation> = []
    const value = valueOf(msg, "", out, limits.maxEntryDepth)
    return out.length === 0
      ? Effect.succeed(value)
      : Effect.fail(new ValidationError({ violations: out.slice(0, MAX_VIOLATIONS) }))
  })

export const objectToProto = (o: DataObject): odgmv1.Object$ =>
  create(odgmv1.ObjectSchema, {
    cls: o.cls,
    partition: o.partition,
    id: o.id,
    version: BigInt(o.version),
    entries: Object.fromEntries(Object.entries(o.entries).map(([k, v]) => [k, valueToProto(v)])),
    createdAt: tsOf(o.createdAt),
    updatedAt: tsOf(o.updatedAt),
    triggers: o.triggers.map(triggerToProto),
  })

export const objectFromProto = (msg: odgmv1.Object$): Effect.Effect<DataObject, ValidationError> =>
  ObjectLimits.use((limits) => {
    const out: Array<FieldViolation> = []
    const entries = Object.fromEntries(
      Object.entries(msg.entries).map((
        [k, v],
      ) => [k, valueOf(v, joinPath("entries", formatPath([k])), out, limits.maxEntryDepth)]),
    )
    if (out.length > 0) return Effect.fail(new ValidationError({ violations: out.slice(0, MAX_VIOLATIONS) }))
    return decodeObject({
      cls: msg.cls,
      partition: msg.partition,
      id: msg.id,
      version: num(msg.version),
      entries,
      ...msField("createdAt", msg.createdAt),
      ...msField("updatedAt", msg.updatedAt),
      triggers: msg.triggers.map(triggerInput),
    })
  })

export const collectionToProto = (c: Collection): odgmv1.Collection => {
  const functions = Object.fromEntries(
    Object.entries(c.functions).map(([name, r]) => [
      name,
      create(odgmv1.FunctionRouteSchema, {
        url: r.url,
        stateless: r.stateless,
        access: T.access.toProto(r.access),
        timeoutMs: r.timeoutMs,
        functionKey: r.functionKey,
        urls: [...(r.urls ?? [])],
      }),
    ]),
  )
  return create(odgmv1.CollectionSchema, {
    name: c.name,
    partitionCount: c.partitionCount,
    functions,
    triggers: c.triggers.map(triggerToProto),
    consistency: T.consistency.toProto(c.consistency),
  })
}

export const collectionFromProto = (msg: odgmv1.Collection): Effect.Effect<Collection, ValidationError> =>
  decodeCollection({
    name: msg.name,
    // 0 is proto3's "unset".
    ...(msg.partitionCount === 0 ? {} : { partitionCount: msg.partitionCount }),
    functions: Object.fromEntries(
      Object.entries(msg.functions).map(([name, r]) => [name, {
        url: r.url,
        stateless: r.stateless,
        ...T.enumField("access", T.access, r.access),
        timeoutMs: r.timeoutMs,
        functionKey: r.functionKey,
        ...(r.urls.length === 0 ? {} : { urls: r.urls }),
      }]),
    ),
    triggers: msg.triggers.map(triggerInput),
    ...T.enumField("consistency", T.consistency, msg.consistency),
  })
