import { Code, ConnectError } from "@connectrpc/connect"
import { Effect } from "effect"
import { NotFound, ValidationError } from "@oprc/models"
import { functionv1 } from "@oprc/proto"
import { json, route, rpcService, serve, type ServerOptions } from "../src"

/**
 * A FunctionService whose behaviour is chosen by the JSON payload, so tests can make the server
 * answer, sleep, fail with a domain error, or crash, through every protocol.
 */
const behaviourService = (counter: { calls: number }) =>
  rpcService(
    functionv1.FunctionService,
    Effect.succeed({
      invoke: (req: functionv1.InvokeRequest) =>
        Effect.gen(function*() {
          counter.calls++
          const cmd = JSON.parse(new TextDecoder().decode(req.payload) || "{}") as {
            do?: string
            ms?: number
            failFirst?: number
          }
          switch (cmd.do) {
            case "sleep":
              yield* Effect.sleep(cmd.ms ?? 100)
              break
            case "notfound":
              return yield* new NotFound({ resource: "object", name: req.cls })
            case "invalid":
              return yield* ValidationError.single("payload.x", "must be positive")
            case "defect":
              return yield* Effect.die(new Error("secret internal detail"))
            case "flaky":
              if (counter.calls <= (cmd.failFirst ?? 2)) {
                return yield* Effect.fail(new ConnectError("try later", Code.Unavailable))
              }
              break
          }
          return { status: functionv1.InvocationStatus.OK, output: req.payload }
        }),
    }),
  )

const options = (overrides: Partial<ServerOptions> = {}): ServerOptions => ({
  name: "test",
  version: "0.0.0",
  host: "127.0.0.1",
  port: 0,
  bodyLimitBytes: 64 * 1024,
  shutdownGraceMs: 1500,
  ...overrides,
})

export const testServer = (counter: { calls: number }, overrides: Partial<ServerOptions> = {}) =>
  serve(options(overrides), {
    rpc: [behaviourService(counter)],
    rest: [
      route("GET", "/api/echo/:name", (r) => Effect.succeed(json(200, { name: r.params.name, q: r.query.get("q") }))),
      route("POST", "/api/echo", (r) => Effect.succeed(json(201, { size: r.body.length }))),
      route("GET", "/api/sleep/:ms", (r) => Effect.as(Effect.sleep(Number(r.params.ms)), json(200, { slept: true }))),
      // What a handler sees of a request, for comparing the transports (test/http1.test.ts).
      route("POST", "/api/mirror/:name", (r) =>
        Effect.succeed(json(200, {
          name: r.params.name,
          path: r.path,
          query: [...r.query],
          headers: [...r.headers].filter(([k]) => k.startsWith("x-") || k === "content-type"),
          text: r.text ?? null,
          size: r.body.length,
        }))),
      route(
        "GET",
        "/api/missing/:id",
        (r) => Effect.fail(new NotFound({ resource: "thing", name: r.params.id ?? "" })),
      ),
    ],
  })
