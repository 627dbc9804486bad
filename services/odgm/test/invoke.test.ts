import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { createClient } from "@connectrpc/connect"
import { createGrpcTransport } from "@connectrpc/connect-node"
import { functionv1, odgmv1 } from "@oprc/proto"
import { classCredential } from "@oprc/rpc"
import { leaveMidCall } from "@oprc/test-harness"
import {
  type FunctionProcess,
  probeCollection,
  probeEntry,
  rest,
  startFunction,
  startOdgm,
  systemErrorEntry,
} from "./support/odgm.ts"

const token = "internal-secret"
let probe: FunctionProcess
let broken: FunctionProcess
let odgm: Awaited<ReturnType<typeof startOdgm>>
let api: ReturnType<typeof rest>
const cls = "probe.Probe"
const obj = (id: string, fn: string) => `/api/class/${cls}/-/objects/${id}/invokes/${fn}`

beforeAll(async () => {
  ;[probe, broken] = await Promise.all([startFunction(probeEntry), startFunction(systemErrorEntry)])
  odgm = await startOdgm({ internalToken: token, invocation: { timeoutMs: 3000 } })
  api = rest(odgm.url)
  const apply = (c: object) => api.put(`/api/collections/${(c as { name: string }).name}`, c)
  expect(
    (await apply(probeCollection(cls, probe.url, {
      functions: { broken: { url: broken.url }, down: { url: "http://127.0.0.1:9" } },
    }))).status,
  ).toBe(200)
  // Binding names are what the function server dispatches on, so these reuse the probe's names.
  expect(
    (await apply({
      name: "probe.Guarded",
      functions: { echo: { url: probe.url, access: "INTERNAL" }, get: { url: probe.url, access: "PRIVATE" } },
    })).status,
  ).toBe(200)
  expect((await apply({ name: "probe.Quick", functions: { sleep: { url: probe.url, timeoutMs: 300 } } })).status).toBe(
    200,
  )
}, 60_000)
afterAll(async () => {
  await odgm?.stop()
  await Promise.all([probe?.stop(), broken?.stop()])
})

describe("invocation", () => {
  test("stateful: the function sees the state, its changes commit, the version moves", async () => {
    const first = await api.post(obj("c1", "increment"))
    expect(first.status).toBe(200)
    expect(first.json).toEqual({ count: 1 })
    expect(first.headers.get("x-oprc-object-version")).toBe("1")
    const second = await api.post(obj("c1", "increment"))
    expect(second.json).toEqual({ count: 2 })
    expect((await api.get(`/api/class/${cls}/-/objects/c1`)).json).toMatchObject({
      version: "2",
      entries: { count: 2 },
    })
    // A function that changes nothing writes nothing: no version bump, and no object is created.
    expect((await api.post(obj("c1", "get"))).headers.get("x-oprc-object-version")).toBe("2")
    expect((await api.post(obj("ghost", "get"))).status).toBe(200)
    expect((await api.get(`/api/class/${cls}/-/objects/ghost`)).status).toBe(404)
  })

  test("the function sees payload, content-type, traceparent and the invocation id", async () => {
    const r = await api.post(obj("e1", "echo"), { hi: 1 }, {
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    })
    expect(r.status).toBe(200)
    expect(r.json.payload).toEqual({ hi: 1 })
    expect(r.json.headers["content-type"]).toBe("application/json")
    expect(r.json.headers.traceparent).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/)
    expect(r.json.invocationId).toBe(r.headers.get("x-oprc-invocation-id"))
    expect(r.json.object).toMatchObject({ id: "e1", version: "0", exists: false })
  })

  test("stateless invocation gets no object", async () => {
    const r = await api.post(`/api/class/${cls}/-/invokes/hello`, { name: "ada" })
    expect(r.status).toBe(200)
    expect(r.json.greeting).toBe("hello ada")
    expect((await api.post(`/api/class/${cls}/-/invokes/increment`)).status).toBe(400)
  })

  test("status mapping: INVALID 400, APP_ERROR 422, SYSTEM_ERROR 502, unreachable 503, deadline 504, unknown 404", async () => {
    const invalid = await api.post(obj("s1", "invalid"))
    expect([invalid.status, invalid.json.error.code]).toEqual([400, "invalid_argument"])
    const bad = await api.post(obj("s1", "set"), { nope: 1 })
    expect(bad.status).toBe(400)
    const app = await api.post(obj("s1", "fail"))
    expect([app.status, app.json.error.code, app.json.error.message, app.json.error.details]).toEqual([
      422,
      "app_error",
      "the probe refuses",
      { reason: "asked to fail" },
    ])
    expect((await api.post(obj("s1", "broken"))).status).toBe(502)
    const down = await api.post(obj("s1", "down"))
    expect([down.status, down.json.error.code]).toEqual([503, "unavailable"])
    const started = Date.now()
    const slow = await api.post(`${obj("s1", "sleep")}?timeoutMs=300`, { ms: 2000 })
    expect([slow.status, slow.json.error.code]).toEqual([504, "deadline_exceeded"])
    expect(Date.now() - started).toBeLessThan(1500)
    expect((await api.post(`/api/class/probe.Quick/-/objects/s1/invokes/sleep`, { ms: 1000 })).status).toBe(504)
    expect((await api.post(obj("s1", "nope"))).status).toBe(404)
    expect((await api.post(`/api/class/no.Class/-/objects/s1/invokes/echo`)).status).toBe(404)
    expect((await api.post(obj("Bad Id", "echo"))).status).toBe(400)
    // Nothing failed commits anything.
    expect((await api.get(`/api/class/${cls}/-/objects/s1`)).status).toBe(404)
  })

  test("a client that leaves during an invocation cancels the call to the function", async () => {
    // The function server counts a call whose caller hung up as canceled; one it answered, as ok.
    const body = JSON.stringify({ ms: 2500 })
    const { hostname, port } = new URL(odgm.url)
    const { before, after } = await leaveMidCall({
      host: hostname,
      port: Number(port),
      request: `POST ${
        obj("left1", "sleep")
      } HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      metricsUrl: `${probe.url}/metrics`,
      pattern: /oprc_rpc_requests_total\{[^}]*method="Invoke",code="canceled"\} (\d+)/,
      leaveAfterMs: 300,
      // Well before the 2.5 s sleep could end.
      withinMs: 1500,
    })
    expect(after).toBe(before + 1)
  })

  test("INTERNAL needs the internal token; PRIVATE also the same class", async () => {
    const guarded = (fn: string) => `/api/class/probe.Guarded/-/objects/p1/invokes/${fn}`
    expect((await api.post(guarded("echo"))).status).toBe(403)
    expect((await api.post(guarded("echo"), undefined, { "x-oprc-internal-token": "wrong" })).status).toBe(403)
    expect((await api.post(guarded("echo"), undefined, { "x-oprc-internal-token": token })).status).toBe(200)
    expect((await api.post(guarded("get"), undefined, { "x-oprc-internal-token": token })).status).toBe(403)
    // The caller's class comes from its class credential (issued from the internal secret), never
    // from a header it could simply set.
    const claimed = { "x-oprc-internal-token": token, "x-oprc-caller-class": "probe.Guarded" }
    expect((await api.post(guarded("get"), undefined, claimed)).status).toBe(403)
    const other = { "oprc-caller-token": classCredential(token, cls) }
    expect((await api.post(guarded("get"), undefined, other)).status).toBe(403)
    const same = { "oprc-caller-token": classCredential(token, "probe.Guarded") }
    expect((await api.post(guarded("get"), undefined, same)).status).toBe(200)
  })

  test("async: 202 with an id, GetResult PENDING then DONE; client ids are idempotent", async () => {
    const accepted = await api.post(`${obj("a1", "sleep")}?async=true`, { ms: 300 })
    expect(accepted.status).toBe(202)
    const id = accepted.json.invocationId as string
    expect(accepted.headers.get("location")).toBe(`/api/invocations/${id}`)
    const early = await api.get(`/api/invocations/${id}`)
    expect(early.status).toBe(202)
    expect(["PENDING", "RUNNING"]).toContain(early.json.state)
    const done = await api.get(`/api/invocations/${id}?waitMs=5000`)
    expect(done.status).toBe(200)
    expect(done.json).toMatchObject({ state: "DONE", status: "OK", output: { slept: 300 } })

    const mine = { "x-oprc-invocation-id": "my-call-1" }
    expect((await api.post(`${obj("a2", "increment")}?async=true`, undefined, mine)).json.invocationId).toBe(
      "my-call-1",
    )
    await api.get(`/api/invocations/my-call-1?waitMs=5000`)
    expect((await api.post(`${obj("a2", "increment")}?async=true`, undefined, mine)).status).toBe(202)
    await Bun.sleep(300)
    expect((await api.get(`/api/class/${cls}/-/objects/a2`)).json.entries.count).toBe(1)

    const failed = await api.post(`${obj("a3", "fail")}?async=true`)
    expect((await api.get(`/api/invocations/${failed.json.invocationId}?waitMs=5000`)).json).toMatchObject({
      state: "DONE",
      status: "APP_ERROR",
      error: "the probe refuses",
    })
    expect((await api.get(`/api/invocations/never-issued`)).status).toBe(404)
    // Refused at once when it could never run.
    expect((await api.post(`${obj("a4", "nope")}?async=true`)).status).toBe(404)
    expect((await api.post(`/api/class/probe.Guarded/-/objects/a4/invokes/echo?async=true`)).status).toBe(403)
  })

  test("gRPC: InvocationService and ObjectService on the same port", async () => {
    const transport = createGrpcTransport({ baseUrl: odgm.url })
    const inv = createClient(odgmv1.InvocationService, transport)
    const objects = createClient(odgmv1.ObjectService, transport)
    const r = await inv.invoke({ cls, objectId: "g1", function: "increment" })
    expect(r.status).toBe(functionv1.InvocationStatus.OK)
    expect(JSON.parse(new TextDecoder().decode(r.output))).toEqual({ count: 1 })
    expect(r.objectVersion).toBe(1n)
    const app = await inv.invoke({ cls, objectId: "g1", function: "fail" })
    expect([app.status, app.error]).toEqual([functionv1.InvocationStatus.APP_ERROR, "the probe refuses"])
    const got = await objects.getObject({ cls, id: "g1" })
    expect(got.object?.version).toBe(1n)
    const { invocationId } = await inv.invokeAsync({ cls, objectId: "g1", function: "increment" })
    const res = await inv.getResult({ invocationId, waitMs: 5000 })
    expect(res.state).toBe(odgmv1.ResultState.DONE)
    expect(res.result?.objectVersion).toBe(2n)
    const down = await inv.invoke({ cls, objectId: "g1", function: "down" }).then(
      () => "resolved",
      (e: unknown) => String(e),
    )
    expect(down).toMatch(/unavailable/)
  })

  test("metrics per class and function", async () => {
    const text = await (await fetch(`${odgm.url}/metrics`)).text()
    expect(text).toMatch(/oprc_odgm_invocations_total\{cls="probe.Probe",fn="increment",status="ok"\} \d+/)
    expect(text).toMatch(/oprc_odgm_invocations_total\{cls="probe.Probe",fn="fail",status="app_error"\} \d+/)
    expect(text).toMatch(/oprc_odgm_invocations_total\{cls="probe.Probe",fn="down",status="unavailable"\} \d+/)
    expect(text).toMatch(
      /oprc_odgm_invocation_duration_seconds_bucket\{cls="probe.Probe",fn="increment",le="[^"]+"\} \d+/,
    )
  })
})
