import { Schema } from "effect"

/**
 * The payload a trigger's target function receives: `oprc.odgm.v1.TriggerEvent` in its JSON form.
 * Use it as a function's payload schema: `fn({ payload: TriggerEvent }, ({ payload }) => ...)`.
 */
export const TriggerEvent = Schema.Struct({
  eventId: Schema.String,
  /** TRIGGER_EVENT_DATA_CREATE | _DATA_UPDATE | _DATA_DELETE | _FUNC_COMPLETE | _FUNC_ERROR */
  type: Schema.String,
  sourceCls: Schema.String,
  sourcePartition: Schema.optionalKey(Schema.Number),
  sourceObjectId: Schema.optionalKey(Schema.String),
  /** Entry key (data events) or function binding name (function events). */
  source: Schema.String,
  time: Schema.optionalKey(Schema.String),
  invocationId: Schema.optionalKey(Schema.String),
  status: Schema.optionalKey(Schema.String),
  /** Function events: the invocation's output, base64. */
  output: Schema.optionalKey(Schema.String),
  error: Schema.optionalKey(Schema.String),
})
export type TriggerEvent = typeof TriggerEvent.Type

/** The short event name ("DATA_UPDATE") of a trigger event's `type`. */
export const eventName = (e: TriggerEvent): string => e.type.replace(/^TRIGGER_EVENT_/, "")
