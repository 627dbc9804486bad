import { afterAll, beforeAll, expect, test } from "bun:test"
import { Schema } from "effect"
import { OdgmApp, OdgmConfig } from "@oprc/odgm"
import { startServer } from "@oprc/rpc"
import { AppError, defineClass, type FunctionServer, makeOdgmClient, serve, withDefault } from "../src/index.ts"

// Functions calling ODGM back (ODGM_URL): a transfer debits its own object and invokes an INTERNAL
// `deposit` on another object with the platform's internal credential.

const Account = defineClass({
  state: Schema.Struct({ balance: withDefault(Schema.Number, 0) }),
  functions: ({ fn }) => ({
    deposit: fn({ payload: Schema.Struct({ amount: Schema.Number }) }, ({ state, payload }) => {
      state.balance += payload.amount
      return { balance: state.balance }
    }),
    transfer: fn(
      { payload: Schema.Struct({ to: Schema.String, amount: Schema.Number }) },
      async ({ state, payload, odgm, cls }) => {
        if (state.balance < payload.amount) throw new AppError("insufficient funds")
        const r = await odgm!.invoke(cls, payload.to, "deposit", { amount: payload.amount })
        if (r.status !== "OK") throw new AppError(`deposit failed: ${r.error}`)
        state.balance -= payload.amount
        return { balance: state.balance, credited: r.output }
      },
    ),
  }),
})

let odgm: Awaited<ReturnType<typeof startServer>>
let fn: FunctionServer

beforeAll(async () => {
  const config = Schema.decodeUnknownSync(OdgmConfig)({
    storage: { kind: "memory" },
    internalToken: "secret",
    telemetry: { log: { level: "error" } },
  })
  odgm = await startServer(OdgmApp({ ...config, server: { ...config.server, host: "127.0.0.1", port: 0 } }))
  fn = await serve(Account, { port: 0, host: "127.0.0.1", quiet: true, odgmUrl: odgm.url, internalToken: "secret" })
  const r = await fetch(`${odgm.url}/api/collections/bank.Account`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      name: "bank.Account",
      functions: { deposit: { url: fn.url, access: "INTERNAL" }, transfer: { url: fn.url } },
    }),
  })
  expect(r.status).toBe(200)
})
afterAll(async () => {
  await fn?.close()
  await odgm?.stop()
})

test("a function invokes an INTERNAL function of another object through ODGM", async () => {
  const client = makeOdgmClient({ baseUrl: odgm.url, internalToken: "secret" })
  expect((await client.invoke("bank.Account", "alice", "deposit", { amount: 100 })).output).toEqual({ balance: 100 })
  // From outside, deposit is refused; transfer is public.
  const outside = await fetch(`${odgm.url}/api/class/bank.Account/-/objects/alice/invokes/deposit`, {
    method: "POST",
    body: "{\"amount\":5}",
  })
  expect(outside.status).toBe(403)
  const t = await fetch(`${odgm.url}/api/class/bank.Account/-/objects/alice/invokes/transfer`, {
    method: "POST",
    body: JSON.stringify({ to: "bob", amount: 30 }),
  })
  expect(await t.json()).toEqual({ balance: 70, credited: { balance: 30 } })
  expect((await client.get("bank.Account", "bob"))?.entries).toEqual({ balance: 30 })
  const broke = await fetch(`${odgm.url}/api/class/bank.Account/-/objects/bob/invokes/transfer`, {
    method: "POST",
    body: JSON.stringify({ to: "alice", amount: 500 }),
  })
  expect(broke.status).toBe(422)
  const merged = await client.merge("bank.Account", "carol", { balance: 7 })
  expect([merged.version, merged.entries]).toEqual([1n, { balance: 7 }])
  expect(await client.get("bank.Account", "nobody")).toBeUndefined()
})
