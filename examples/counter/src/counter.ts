import { Schema } from "effect"
import { defineClass, withDefault } from "@oprc/sdk"

/** A counter object: `increment` adds to `count`, `get` reads it, `reset` sets it back to 0. */
export const Counter = defineClass({
  state: Schema.Struct({ count: withDefault(Schema.Number, 0) }),
  functions: ({ fn }) => ({
    increment: fn({ payload: Schema.Struct({ by: Schema.optional(Schema.Number) }) }, ({ state, payload }) => {
      state.count += payload.by ?? 1
      return { count: state.count }
    }),
    get: fn({}, ({ state }) => ({ count: state.count })),
    reset: fn({}, ({ state }) => {
      state.count = 0
      return { count: 0 }
    }),
  }),
})
