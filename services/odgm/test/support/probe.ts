// A function process for ODGM's tests: `PORT=... bun services/odgm/test/support/probe.ts`.
// Its functions cover every outcome ODGM must map (ok, invalid, app error, slow, delete, triggers).
import { Schema } from "effect"
import { AppError, defineClass, eventName, InvalidInput, serve, TriggerEvent, withDefault } from "@oprc/sdk"

const Json = Schema.Unknown

export const Probe = defineClass({
  state: Schema.Struct({
    value: Schema.optionalKey(Json),
    events: withDefault(Schema.Array(Schema.String), []),
    /** "<type>:<source object>:<source>" of each recorded event. */
    seen: withDefault(Schema.Array(Schema.String), []),
    count: withDefault(Schema.Number, 0),
  }),
  functions: ({ fn, stateless }) => ({
    /** Answers what it saw; stores the payload in `value`. */
    echo: fn({}, ({ state, payload, headers, object, invocationId }) => {
      state.value = payload
      return { payload, headers, object: { ...object, version: object.version.toString() }, invocationId }
    }),
    /** Sets `value` and bumps `count` (data triggers watch these). */
    set: fn({ payload: Schema.Struct({ value: Json }) }, ({ state, payload }) => {
      state.value = payload.value
      state.count += 1
      return { count: state.count }
    }),
    increment: fn({}, ({ state }) => {
      state.count += 1
      return { count: state.count }
    }),
    get: fn({}, ({ state }) => state),
    /** A trigger target: records each event id once (deliveries are at least once). */
    record: fn({ payload: TriggerEvent }, ({ state, payload }) => {
      if (!state.events.includes(payload.eventId)) {
        state.events = [...state.events, payload.eventId]
        state.seen = [...state.seen, `${eventName(payload)}:${payload.sourceObjectId ?? ""}:${payload.source}`]
      }
      return { events: state.events.length }
    }),
    /** A trigger target that refuses until its object's `value` is "ready", then counts. */
    gate: fn({}, ({ state }) => {
      if (state.value !== "ready") throw new AppError("the gate is closed", { value: state.value ?? null })
      state.count += 1
      return { count: state.count }
    }),
    remove: fn({}, ({ deleteObject }) => deleteObject()),
    fail: fn({}, () => {
      throw new AppError("the probe refuses", { reason: "asked to fail" })
    }),
    invalid: fn({}, () => {
      throw new InvalidInput("the probe finds the input invalid")
    }),
    sleep: fn({ payload: Schema.Struct({ ms: Schema.Number }) }, async ({ payload }) => {
      await Bun.sleep(payload.ms)
      return { slept: payload.ms }
    }),
    hello: stateless(
      { payload: Schema.Struct({ name: Schema.String }) },
      ({ payload, headers }) => ({ greeting: `hello ${payload.name}`, contentType: headers["content-type"] }),
    ),
    noop: stateless({}, () => undefined),
  }),
})

if (import.meta.main) await serve(Probe, { quiet: true })
