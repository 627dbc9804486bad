import { afterAll, beforeAll, expect, test } from "bun:test"
import { expectConsistent } from "../../support/consistency.ts"
import { post, startExample, startOdgmFor } from "../../support/harness.ts"

let fn: Awaited<ReturnType<typeof startExample>>
let odgm: Awaited<ReturnType<typeof startOdgmFor>>
beforeAll(async () => {
  fn = await startExample("counter")
  odgm = await startOdgmFor("counter", fn.url)
}, 30_000)
afterAll(async () => {
  await odgm?.stop()
  await fn?.proc.stop()
})

const call = (id: string, f: string, body?: unknown, headers?: Record<string, string>) =>
  post(`${odgm.url}/api/class/counter.Counter/-/objects/${id}/invokes/${f}`, body, headers)

test("package.yaml is valid and matches collections.yaml", () => expectConsistent("counter"))

test("increment and get through ODGM", async () => {
  expect(await call("c1", "increment")).toEqual({ status: 200, json: { count: 1 } })
  expect(await call("c1", "increment", { by: 41 })).toEqual({ status: 200, json: { count: 42 } })
  expect(await call("c1", "get")).toEqual({ status: 200, json: { count: 42 } })
  expect((await call("c1", "increment", { by: "two" })).status).toBe(400)
  // reset is INTERNAL: refused from outside.
  expect((await call("c1", "reset")).status).toBe(403)
  const stored = (await (await fetch(`${odgm.url}/api/class/counter.Counter/-/objects/c1`)).json()) as {
    entries: unknown
  }
  expect(stored.entries).toEqual({ count: 42 })
})
