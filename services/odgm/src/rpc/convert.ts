import { create } from "@bufbuild/protobuf"
import { timestampFromMs } from "@bufbuild/protobuf/wkt"
import { Effect, Schema } from "effect"
import {
  type DataObject,
  decodeWith,
  entryKeyMessage,
  type FieldViolation,
  isEntryKey,
  objectToProto as dataObjectToProto,
  protoEnum,
  Trigger,
  ValidationError,
  type Value as PlainValue,
  valueFromProto,
  valueToProto,
} from "@oprc/models"
import { type commonv1, odgmv1 } from "@oprc/proto"
import { objectTriggers } from "../domain/events.ts"
import type { Entries, StoredObject, Value } from "../domain/types.ts"
import { fromPlain, toPlain } from "../domain/values.ts"

/**
 * Proto <-> ODGM's object model, the one home for both of its edges (the RPC handlers here and
 * FunctionClient's outbound call): the wire forms themselves (values, triggers, objects, enum
 * tables) are @oprc/models', shared with the PM, the CRM and the SDK; this file only maps ODGM's
 * stored form (tagged values, a bigint version, opaque trigger specs) onto them.
 */

const plainEntries = (entries: Entries): Record<string, PlainValue> => {
  const out: Record<string, PlainValue> = {}
  for (const [k, v] of Object.entries(entries)) out[k] = toPlain(v) as PlainValue
  return out
}

export const entriesToProto = (entries: Entries): Record<string, commonv1.Value> => {
  const out: Record<string, commonv1.Value> = {}
  for (const [k, v] of Object.entries(entries)) out[k] = valueToProto(toPlain(v) as PlainValue)
  return out
}

/** One value from the wire in ODGM's form, or the models' violations (paths relative to the value). */
export const entryFromProto = (v: commonv1.Value): Effect.Effect<Value, ValidationError> =>
  Effect.map(valueFromProto(v), fromPlain)

/** Entries from the wire: NaN/Infinity and unset values rejected with their paths. */
export const entriesFromProto = (
  entries: Record<string, commonv1.Value>,
  path = "entries",
): Effect.Effect<Entries, ValidationError> =>
  Effect.gen(function*() {
    const out: Record<string, Value> = {}
    const violations: Array<FieldViolation> = []
    for (const [k, v] of Object.entries(entries)) {
      // The rule REST bodies and function replies are held to (@oprc/models).
      if (!isEntryKey(k)) {
        violations.push({ path: `${path}.${k.slice(0, 64)}`, message: `an entry key ${entryKeyMessage}` })
        continue
      }
      const decoded = yield* Effect.result(entryFromProto(v))
      if (decoded._tag === "Failure") {
        violations.push(
          ...decoded.failure.violations.map((x) => ({
            path: `${path}.${k}${x.path ? `.${x.path}` : ""}`,
            message: x.message,
          })),
        )
      } else out[k] = decoded.success
    }
    if (violations.length > 0) return yield* new ValidationError({ violations })
    return out
  })

const decodeTriggers = decodeWith(Schema.Array(Trigger))

export const triggersFromProto = (
  ts: ReadonlyArray<commonv1.Trigger>,
): Effect.Effect<ReadonlyArray<Trigger>, ValidationError> =>
  decodeTriggers(
    ts.map((t) => ({
      ...protoEnum.enumField("event", protoEnum.triggerEvent, t.event),
      source: t.source,
      target: {
        cls: t.target?.cls ?? "",
        function: t.target?.function ?? "",
        objectId: t.target?.objectId ?? "",
        headers: { ...t.target?.headers },
      },
    })),
  ).pipe(Effect.mapError((e) =>
    new ValidationError({
      violations: e.violations.map((v) => ({
        path: `triggers${v.path.startsWith("[") ? "" : "."}${v.path}`,
        message: v.message,
      })),
    })
  ))

/** A stored object as oprc.odgm.v1.Object: the models' conversion (a version stays far below 2^53). */
export const objectToProto = (o: StoredObject): odgmv1.Object$ =>
  dataObjectToProto({
    cls: o.cls,
    partition: o.partition,
    // The gateway checked the id when the object was written (checkObjectId).
    id: o.id as DataObject["id"],
    version: Number(o.version),
    entries: plainEntries(o.entries),
    createdAt: o.createdAt,
    updatedAt: o.updatedAt,
    triggers: objectTriggers(o.triggers),
  })

export const summaryToProto = (o: StoredObject): odgmv1.ObjectSummary =>
  create(odgmv1.ObjectSummarySchema, {
    id: o.id,
    partition: o.partition,
    version: o.version,
    entryCount: Object.keys(o.entries).length,
    updatedAt: timestampFromMs(o.updatedAt),
  })
