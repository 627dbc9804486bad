import { afterAll, beforeAll, expect, test } from "bun:test"
import { createClient } from "@connectrpc/connect"
import { createConnectTransport } from "@connectrpc/connect-node"
import { odgmv1 } from "@oprc/proto"
import { rest, startOdgm } from "./support/odgm.ts"

// With bearer tokens configured: no token 401, readers read only, deployers write and manage
// collections, and the internal token (functions) passes everywhere.

let odgm: Awaited<ReturnType<typeof startOdgm>>
const as = (token?: string) => rest(odgm.url, token ? { authorization: `Bearer ${token}` } : {})

beforeAll(async () => {
  odgm = await startOdgm({
    internalToken: "fn-secret",
    auth: {
      tokens: [{ name: "ci", token: "deploy-secret", role: "deployer" }, {
        name: "dash",
        token: "read-secret",
        role: "reader",
      }],
    },
  })
  expect((await as("deploy-secret").put("/api/collections/auth.Thing", { functions: {} })).status).toBe(200)
})
afterAll(() => odgm?.stop())

test("bearer tokens and roles guard REST and RPC", async () => {
  const path = "/api/class/auth.Thing/-/objects/t1"
  expect((await as().get(path)).status).toBe(401)
  expect((await as("nope").get(path)).status).toBe(401)
  expect((await as("deploy-secret").put(path, { entries: { a: 1 } })).status).toBe(201)
  expect((await as("read-secret").get(path)).status).toBe(200)
  expect((await as("read-secret").put(path, { entries: {} })).status).toBe(403)
  expect((await as("read-secret").put("/api/collections/auth.Other", { functions: {} })).status).toBe(403)
  expect((await rest(odgm.url, { "x-oprc-internal-token": "fn-secret" }).patch(path, { entries: { b: 2 } })).status)
    .toBe(200)
  // Health and metrics stay open for probes and Prometheus.
  expect((await fetch(`${odgm.url}/readyz`)).status).toBe(200)
  expect((await fetch(`${odgm.url}/metrics`)).status).toBe(200)

  const rpc = (token: string) =>
    createClient(
      odgmv1.ObjectService,
      createConnectTransport({
        baseUrl: odgm.url,
        httpVersion: "1.1",
        interceptors: [(next) => (req) => {
          req.header.set("authorization", `Bearer ${token}`)
          return next(req)
        }],
      }),
    )
  expect((await rpc("read-secret").getObject({ cls: "auth.Thing", id: "t1" })).object?.version).toBe(2n)
  const denied = await rpc("read-secret").deleteObject({ cls: "auth.Thing", id: "t1" }).then(
    () => "ok",
    (e: Error) => e.message,
  )
  expect(denied).toMatch(/permission_denied/)
})
