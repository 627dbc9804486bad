import { Schema } from "effect"
import { defineClass, eventName, TriggerEvent, withDefault } from "@oprc/sdk"

/**
 * A sensor: `record` stores a reading. The class's trigger (package.yaml) fires on every update of
 * the `reading` entry and invokes `check` on the same object with the trigger event, which raises
 * an alert when the reading crosses the threshold. Deliveries are at least once, but ODGM uses
 * the event id as the invocation id and applies each one once, so `check` needs no bookkeeping of
 * its own for redeliveries.
 */
export const Sensor = defineClass({
  state: Schema.Struct({
    reading: Schema.optionalKey(Schema.Number),
    threshold: withDefault(Schema.Number, 100),
    alerts: withDefault(Schema.Array(Schema.String), []),
  }),
  functions: ({ fn }) => ({
    record: fn({ payload: Schema.Struct({ value: Schema.Number }) }, ({ state, payload }) => {
      state.reading = payload.value
      return { reading: payload.value }
    }),
    setThreshold: fn({ payload: Schema.Struct({ threshold: Schema.Number }) }, ({ state, payload }) => {
      state.threshold = payload.threshold
    }),
    check: fn({ payload: TriggerEvent }, ({ state, payload }) => {
      if (state.reading !== undefined && state.reading > state.threshold) {
        state.alerts = [
          ...state.alerts,
          `${eventName(payload)}: ${payload.source}=${state.reading} > ${state.threshold}`,
        ]
      }
      return { alerts: state.alerts.length }
    }),
    status: fn(
      {},
      ({ state }) => ({ reading: state.reading ?? null, threshold: state.threshold, alerts: state.alerts }),
    ),
  }),
})
