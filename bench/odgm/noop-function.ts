// The function behind bench/odgm: a stateless no-op and a stateful touch. PORT from the environment.
import { Schema } from "effect"
import { defineClass, serve, withDefault } from "@oprc/sdk"

export const Bench = defineClass({
  state: Schema.Struct({ n: withDefault(Schema.Number, 0) }),
  functions: ({ fn, stateless }) => ({
    noop: stateless({}, () => undefined),
    touch: fn({}, ({ state }) => {
      state.n += 1
    }),
  }),
})

await serve(Bench, { quiet: true })
