import { Schema } from "effect"
import { defineFunctions, InvalidInput, stateless } from "@oprc/sdk"

/** Stateless functions: invoked on the class (`POST /api/class/greeter.Greeter/-/invokes/hello`), no object. */
export const Greeter = defineFunctions({
  hello: stateless(
    {
      payload: Schema.Struct({ name: Schema.String, language: Schema.optional(Schema.Literals(["en", "fr", "ja"])) }),
      output: Schema.Struct({ greeting: Schema.String }),
    },
    ({ payload }) => {
      if (payload.name.trim() === "") throw new InvalidInput("name must not be blank")
      const word = { en: "Hello", fr: "Bonjour", ja: "こんにちは" }[payload.language ?? "en"]
      return { greeting: `${word}, ${payload.name}!` }
    },
  ),
  wordCount: stateless({ payload: Schema.Struct({ text: Schema.String }) }, ({ payload }) => ({
    words: payload.text.split(/\s+/).filter((w) => w.length > 0).length,
  })),
})
