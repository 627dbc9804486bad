import { expect, test } from "bun:test"
import { Effect, Schema } from "effect"
import { NotFound } from "@oprc/models"
import { functionv1 } from "@oprc/proto"
import { route, rpcService } from "../src"

class Stray extends Schema.TaggedError<Stray>()("Stray", { reason: Schema.String }) {}

// The handler error channel is the edge's vocabulary (EdgeError): a domain error compiles, an
// error type the mapper does not know is a compile error (tsc runs these lines in `npm test`).
test("a stray error type in a handler is a compile error, a domain error is not", () => {
  const known = rpcService(
    functionv1.FunctionService,
    Effect.succeed({
      invoke: () => Effect.fail(new NotFound({ resource: "object", name: "x" })),
    }),
  )
  const stray = rpcService(
    functionv1.FunctionService,
    // @ts-expect-error Stray is not an EdgeError
    Effect.succeed({
      invoke: () => Effect.fail(new Stray({ reason: "x" })),
    }),
  )
  const strayRoute = route("GET", "/x", () =>
    // @ts-expect-error Stray is not an EdgeError
    Effect.fail(new Stray({ reason: "x" })))
  expect([known.service.typeName, stray.service.typeName, typeof strayRoute]).toEqual([
    "oprc.function.v1.FunctionService",
    "oprc.function.v1.FunctionService",
    "object",
  ])
})
