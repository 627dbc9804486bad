import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { classCredential } from "@oprc/rpc"
import { makeOdgmClient } from "../packages/sdk/src/odgm"
import { type FunctionProcess, probeEntry, rest, startFunction, startOdgm } from "../services/odgm/test/support/odgm"

// Issue 7, observation 7: ODGM's internal token was a master key, PRIVATE trusted a header the
// caller sets, and ODGM refused gRPC health checks when auth was on. One authorizer
// (@oprc/rpc auth.ts) with least privilege, against a real ODGM and a real function process.

const internal = "edge-internal-secret"
let probe: FunctionProcess
let odgm: Awaited<ReturnType<typeof startOdgm>>
const deployer = { authorization: "Bearer edge-deploy" }
const asInternal = { "x-oprc-internal-token": internal }
const guarded = (fn: string) => `/api/class/edge.Guarded/-/objects/p1/invokes/${fn}`

beforeAll(async () => {
  probe = await startFunction(probeEntry)
  odgm = await startOdgm({
    internalToken: internal,
    auth: {
      tokens: [{ name: "ci", token: "edge-deploy", role: "deployer" }, {
        name: "dash",
        token: "edge-read",
        role: "reader",
      }],
    },
  })
  const apply = await rest(odgm.url, deployer).put("/api/collections/edge.Guarded", {
    name: "edge.Guarded",
    functions: { echo: { url: probe.url, access: "INTERNAL" }, get: { url: probe.url, access: "PRIVATE" } },
  })
  expect(apply.status).toBe(200)
}, 60_000)
afterAll(async () => {
  await odgm?.stop()
  await probe?.stop()
})

describe("the internal credential opens the data plane only", () => {
  test("objects and invocations: yes", async () => {
    const api = rest(odgm.url, asInternal)
    expect((await api.put("/api/class/edge.Guarded/-/objects/p1", { entries: { a: 1 } })).status).toBe(201)
    expect((await api.get("/api/class/edge.Guarded/-/objects/p1")).status).toBe(200)
    expect((await api.post(guarded("echo"))).status).toBe(200)
  })

  test("collections and dead letters (REST and RPC): no", async () => {
    const api = rest(odgm.url, asInternal)
    const put = await api.put("/api/collections/edge.Evil", {
      name: "edge.Evil",
      functions: { f: { url: "http://attacker.example" } },
    })
    expect(put.status).toBe(403)
    expect((await api.get("/api/dead-letters")).status).toBe(403)
    const rpc = await fetch(`${odgm.url}/oprc.odgm.v1.CollectionService/ApplyCollection`, {
      method: "POST",
      headers: { "content-type": "application/json", ...asInternal },
      body: JSON.stringify({
        collection: { name: "edge.Guarded", functions: { get: { url: "http://attacker.example" } } },
      }),
    })
    expect(rpc.status).toBe(403)
    // The deployer (the CRM) still manages collections.
    expect((await rest(odgm.url, deployer).get("/api/collections/edge.Guarded")).status).toBe(200)
  })
})

describe("PRIVATE is decided from the verified class credential", () => {
  test("a claimed x-oprc-caller-class does not open PRIVATE", async () => {
    const r = await rest(odgm.url, { ...asInternal, "x-oprc-caller-class": "edge.Guarded" }).post(guarded("get"))
    expect(r.status).toBe(403)
  })

  test("the class's own credential does; another class's or a forged one does not", async () => {
    expect(
      (await rest(odgm.url, { "oprc-caller-token": classCredential(internal, "edge.Guarded") }).post(guarded("get")))
        .status,
    ).toBe(200)
    expect(
      (await rest(odgm.url, { "oprc-caller-token": classCredential(internal, "edge.Other") }).post(guarded("get")))
        .status,
    ).toBe(403)
    expect(
      (await rest(odgm.url, { "oprc-caller-token": classCredential("guessed", "edge.Guarded") }).post(guarded("get")))
        .status,
    ).toBe(401)
    const forged = classCredential(internal, "edge.Other").replace("edge.Other", "edge.Guarded")
    expect((await rest(odgm.url, { "oprc-caller-token": forged }).post(guarded("get"))).status).toBe(401)
  })

  test("the SDK's ODGM client sends OPRC_CALLER_TOKEN's credential", async () => {
    const mine = makeOdgmClient({ baseUrl: odgm.url, callerToken: classCredential(internal, "edge.Guarded") })
    expect((await mine.invoke("edge.Guarded", "p1", "get")).status).toBe("OK")
    const other = makeOdgmClient({ baseUrl: odgm.url, callerToken: classCredential(internal, "edge.Other") })
    expect(await other.invoke("edge.Guarded", "p1", "get").then(() => "ok", (e: Error) => e.message)).toMatch(
      /permission_denied/,
    )
  })
})

describe("public and bearer rules", () => {
  test("grpc.health.v1.Health/Check is public on ODGM with auth on", async () => {
    const r = await fetch(`${odgm.url}/grpc.health.v1.Health/Check`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    })
    expect(r.status).toBe(200)
    expect(((await r.json()) as { status: string }).status).toBe("SERVING")
  })

  test("no credential is 401; a reader cannot write; a bearer token compares in full", async () => {
    expect((await rest(odgm.url).get("/api/class/edge.Guarded/-/objects/p1")).status).toBe(401)
    expect(
      (await rest(odgm.url, { authorization: "Bearer edge-read" }).get("/api/class/edge.Guarded/-/objects/p1")).status,
    ).toBe(200)
    expect(
      (await rest(odgm.url, { authorization: "Bearer edge-read" }).put("/api/class/edge.Guarded/-/objects/p2", {
        entries: {},
      })).status,
    ).toBe(403)
    expect(
      (await rest(odgm.url, { authorization: "Bearer edge-rea" }).get("/api/class/edge.Guarded/-/objects/p1")).status,
    ).toBe(401)
  })
})
