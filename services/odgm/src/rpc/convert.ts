import { create } from "@bufbuild/protobuf"
import { timestampFromMs } from "@bufbuild/protobuf/wkt"
import { Effect, Schema } from "effect"
import { decodeWith, type FieldViolation, Trigger, ValidationError, valueFromProto, valueToProto } from "@oprc/models"
import { commonv1, functionv1, odgmv1 } from "@oprc/proto"
import { objectTriggers } from "../domain/events.ts"
import type { Entries, InvocationStatus, StoredObject, Value } from "../domain/types.ts"
import { fromPlain, toPlain } from "../domain/values.ts"

/** Proto <-> domain at the RPC edge (proto types go no further than src/rpc). */

const entriesToProto = (entries: Entries): Record<string, commonv1.Value> => {
  const out: Record<string, commonv1.Value> = {}
  for (const [k, v] of Object.entries(entries)) out[k] = valueToProto(toPlain(v) as Parameters<typeof valueToProto>[0])
  return out
}

const entryKey = /^\S{1,256}$/

/** Entries from the wire: NaN/Infinity and unset values rejected with their paths. */
export const entriesFromProto = (
  entries: Record<string, commonv1.Value>,
  path = "entries",
): Effect.Effect<Entries, ValidationError> =>
  Effect.gen(function*() {
    const out: Record<string, Value> = {}
    const violations: Array<FieldViolation> = []
    for (const [k, v] of Object.entries(entries)) {
      if (!entryKey.test(k)) {
        violations.push({ path: `${path}.${k}`, message: "entry keys are 1 to 256 characters without whitespace" })
        continue
      }
      const decoded = yield* Effect.result(valueFromProto(v))
      if (decoded._tag === "Failure") {
        violations.push(
          ...decoded.failure.violations.map((x) => ({
            path: `${path}.${k}${x.path ? `.${x.path}` : ""}`,
            message: x.message,
          })),
        )
      } else out[k] = fromPlain(decoded.success)
    }
    if (violations.length > 0) return yield* new ValidationError({ violations })
    return out
  })

const triggerToProto = (t: Trigger): commonv1.Trigger =>
  create(commonv1.TriggerSchema, {
    event: commonv1.TriggerEvent[t.event],
    source: t.source,
    target: {
      cls: t.target.cls,
      function: t.target.function,
      objectId: t.target.objectId,
      headers: { ...t.target.headers },
    },
  })

const decodeTriggers = decodeWith(Schema.Array(Trigger))

export const triggersFromProto = (
  ts: ReadonlyArray<commonv1.Trigger>,
): Effect.Effect<ReadonlyArray<Trigger>, ValidationError> =>
  decodeTriggers(
    ts.map((t) => ({
      ...(t.event === commonv1.TriggerEvent.UNSPECIFIED ? {} : { event: commonv1.TriggerEvent[t.event] }),
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

export const objectToProto = (o: StoredObject): odgmv1.Object$ =>
  create(odgmv1.ObjectSchema, {
    cls: o.cls,
    partition: o.partition,
    id: o.id,
    version: o.version,
    entries: entriesToProto(o.entries),
    createdAt: timestampFromMs(o.createdAt),
    updatedAt: timestampFromMs(o.updatedAt),
    triggers: objectTriggers(o.triggers).map(triggerToProto),
  })

export const summaryToProto = (o: StoredObject): odgmv1.ObjectSummary =>
  create(odgmv1.ObjectSummarySchema, {
    id: o.id,
    partition: o.partition,
    version: o.version,
    entryCount: Object.keys(o.entries).length,
    updatedAt: timestampFromMs(o.updatedAt),
  })

export const statusToProto = (s: InvocationStatus): functionv1.InvocationStatus => functionv1.InvocationStatus[s]
