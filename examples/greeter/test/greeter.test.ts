import { afterAll, beforeAll, expect, test } from "bun:test"
import { createClient } from "@connectrpc/connect"
import { createGrpcTransport } from "@connectrpc/connect-node"
import { functionv1 } from "@oprc/proto"
import { expectConsistent } from "../../support/consistency.ts"
import { post, startExample, startOdgmFor } from "../../support/harness.ts"

let fn: Awaited<ReturnType<typeof startExample>>
let odgm: Awaited<ReturnType<typeof startOdgmFor>>
beforeAll(async () => {
  fn = await startExample("greeter")
  odgm = await startOdgmFor("greeter", fn.url)
}, 30_000)
afterAll(async () => {
  await odgm?.stop()
  await fn?.proc.stop()
})

test("package.yaml is valid and matches collections.yaml", () => expectConsistent("greeter"))

test("stateless functions through ODGM, no object involved", async () => {
  const hello = (body: unknown) => post(`${odgm.url}/api/class/greeter.Greeter/-/invokes/hello`, body)
  expect(await hello({ name: "Ada" })).toEqual({ status: 200, json: { greeting: "Hello, Ada!" } })
  expect(await hello({ name: "Ada", language: "ja" })).toEqual({ status: 200, json: { greeting: "こんにちは, Ada!" } })
  expect((await hello({ name: " " })).status).toBe(400)
  expect((await hello({ language: "de" })).status).toBe(400)
  expect(await post(`${odgm.url}/api/class/greeter.Greeter/-/invokes/wordCount`, { text: "one two  three" })).toEqual({
    status: 200,
    json: { words: 3 },
  })
})

test("the function server itself speaks gRPC", async () => {
  const client = createClient(functionv1.FunctionService, createGrpcTransport({ baseUrl: fn.url }))
  const r = await client.invoke({
    function: "hello",
    payload: new TextEncoder().encode(JSON.stringify({ name: "grpc" })),
  })
  expect(r.status).toBe(functionv1.InvocationStatus.OK)
  expect(JSON.parse(new TextDecoder().decode(r.output))).toEqual({ greeting: "Hello, grpc!" })
})
