import { Schema } from "effect"
import { Trigger, type TriggerEvent } from "@oprc/models"
import type { Entries, InvocationStatus } from "./types.ts"
import { sameValue } from "./values.ts"

/**
 * What ODGM puts in the durable outbox, and the trigger events computed from a write. The outbox
 * payload is JSON (storage treats it as opaque) and is decoded with a Schema when claimed, so a
 * malformed record is dead-lettered instead of crashing the dispatcher.
 */

/** `oprc.odgm.v1.TriggerEvent` in its proto-JSON form: what a trigger's target receives as payload. */
const TriggerEventJson = Schema.Struct({
  eventId: Schema.String,
  type: Schema.String,
  sourceCls: Schema.String,
  sourcePartition: Schema.Number,
  sourceObjectId: Schema.String,
  source: Schema.String,
  time: Schema.String,
  invocationId: Schema.optionalKey(Schema.String),
  status: Schema.optionalKey(Schema.String),
  output: Schema.optionalKey(Schema.String),
  error: Schema.optionalKey(Schema.String),
})
type TriggerEventJson = typeof TriggerEventJson.Type

const Target = Schema.Struct({
  cls: Schema.String,
  fn: Schema.String,
  objectId: Schema.String,
  headers: Schema.Record(Schema.String, Schema.String),
})

/** Deliver `event` to `target` (a trigger firing). */
export const TriggerDelivery = Schema.Struct({
  kind: Schema.Literal("trigger"),
  target: Target,
  event: TriggerEventJson,
})
export type TriggerDelivery = typeof TriggerDelivery.Type

/** Run an accepted asynchronous invocation. */
export const AsyncInvocation = Schema.Struct({
  kind: Schema.Literal("invoke"),
  invocationId: Schema.String,
  cls: Schema.String,
  partition: Schema.optionalKey(Schema.Number),
  objectId: Schema.optionalKey(Schema.String),
  fn: Schema.String,
  /** base64 */
  payload: Schema.String,
  headers: Schema.Record(Schema.String, Schema.String),
  timeoutMs: Schema.optionalKey(Schema.Number),
  internal: Schema.Boolean,
  callerClass: Schema.optionalKey(Schema.String),
})
export type AsyncInvocation = typeof AsyncInvocation.Type

export const OutboxPayload = Schema.Union([TriggerDelivery, AsyncInvocation])
export type OutboxPayload = typeof OutboxPayload.Type

const decodeTriggers = Schema.decodeUnknownOption(Schema.Array(Trigger))

/** Per-object triggers as stored (opaque JSON to storage); malformed specs are ignored. */
export const objectTriggers = (stored: ReadonlyArray<unknown> | undefined): ReadonlyArray<Trigger> =>
  stored === undefined || stored.length === 0
    ? []
    : decodeTriggers(stored).pipe((o) => (o._tag === "Some" ? o.value : []))

/** What every event says of itself: its type (as the proto enum's name), where it happened, what fired. */
const eventHeader = (kind: TriggerEvent, source: Source, firedBy: string) => ({
  type: `TRIGGER_EVENT_${kind}`,
  sourceCls: source.cls,
  sourcePartition: source.partition,
  sourceObjectId: source.objectId,
  source: firedBy,
})

export interface Source {
  readonly cls: string
  readonly partition: number
  readonly objectId: string
}

interface Firing {
  readonly trigger: Trigger
  readonly event: Omit<TriggerEventJson, "eventId" | "time">
}

/**
 * Data events of one write: for each entry key created, changed (deep inequality) or removed,
 * every trigger on that key (or "*") fires once. `before`/`after` are undefined when the object
 * did not exist / was deleted.
 */
export const dataFirings = (
  source: Source,
  triggers: ReadonlyArray<Trigger>,
  before: Entries | undefined,
  after: Entries | undefined,
): Array<Firing> => {
  const data = triggers.filter((t) =>
    t.event === "DATA_CREATE" || t.event === "DATA_UPDATE" || t.event === "DATA_DELETE"
  )
  if (data.length === 0) return []
  const keys = new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])
  const out: Array<Firing> = []
  for (const key of [...keys].sort()) {
    const old = before?.[key]
    const now = after?.[key]
    const kind: TriggerEvent | undefined = old === undefined
      ? "DATA_CREATE"
      : now === undefined
      ? "DATA_DELETE"
      : sameValue(old, now)
      ? undefined
      : "DATA_UPDATE"
    if (kind === undefined) continue
    for (const trigger of data) {
      if (trigger.event !== kind || (trigger.source !== key && trigger.source !== "*")) continue
      out.push({
        trigger,
        event: eventHeader(kind, source, key),
      })
    }
  }
  return out
}

/** FUNC_COMPLETE (status OK) or FUNC_ERROR (any other status) of one invocation. */
export const functionFirings = (
  source: Source,
  triggers: ReadonlyArray<Trigger>,
  fn: string,
  outcome: {
    readonly invocationId: string
    readonly status: InvocationStatus
    readonly output: Uint8Array
    readonly error: string
  },
): Array<Firing> => {
  const kind: TriggerEvent = outcome.status === "OK" ? "FUNC_COMPLETE" : "FUNC_ERROR"
  return triggers
    .filter((t) => t.event === kind && t.source === fn)
    .map((trigger) => ({
      trigger,
      event: {
        ...eventHeader(kind, source, fn),
        invocationId: outcome.invocationId,
        status: outcome.status,
        ...(outcome.output.length > 0 ? { output: Buffer.from(outcome.output).toString("base64") } : {}),
        ...(outcome.error ? { error: outcome.error } : {}),
      },
    }))
}

/** Outbox records of firings; ids `<base>.<n>` must be unique store-wide (base is a fresh id). */
export const toDeliveries = (
  firings: ReadonlyArray<Firing>,
  source: Source,
  base: string,
  now: number,
): Array<{ readonly id: string; readonly payload: TriggerDelivery; readonly availableAt: number }> =>
  firings.map((f, i) => {
    const id = `${base}.${i}`
    const target = f.trigger.target
    return {
      id,
      availableAt: now,
      payload: {
        kind: "trigger",
        target: {
          cls: target.cls || source.cls,
          fn: target.function,
          objectId: target.objectId,
          headers: { ...target.headers },
        },
        event: { ...f.event, eventId: id, time: new Date(now).toISOString() },
      },
    }
  })
