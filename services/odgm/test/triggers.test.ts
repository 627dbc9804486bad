import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { createClient } from "@connectrpc/connect"
import { createConnectTransport } from "@connectrpc/connect-node"
import { odgmv1 } from "@oprc/proto"
import {
  eventually,
  type FunctionProcess,
  probeCollection,
  probeEntry,
  rest,
  startFunction,
  startOdgm,
} from "./support/odgm.ts"

let probe: FunctionProcess
let odgm: Awaited<ReturnType<typeof startOdgm>>
let api: ReturnType<typeof rest>
const log = (target: string) => ({ cls: "trig.Log", function: "record", objectId: target })

beforeAll(async () => {
  probe = await startFunction(probeEntry)
  odgm = await startOdgm({ triggers: { maxAttempts: 3, backoffBaseMs: 20, backoffMaxMs: 100 } })
  api = rest(odgm.url)
  expect((await api.put("/api/collections/trig.Log", probeCollection("trig.Log", probe.url))).status).toBe(200)
  const sensor = probeCollection("trig.Sensor", probe.url, {
    triggers: [
      { event: "DATA_UPDATE", source: "value", target: { function: "record" } },
      { event: "DATA_CREATE", source: "*", target: log("creations") },
      { event: "FUNC_COMPLETE", source: "increment", target: log("completions") },
      { event: "FUNC_ERROR", source: "fail", target: log("errors") },
    ],
  })
  expect((await api.put("/api/collections/trig.Sensor", sensor)).status).toBe(200)
}, 60_000)
afterAll(async () => {
  await odgm?.stop()
  await probe?.stop()
})

const events = async (cls: string, id: string): Promise<string[]> => {
  const r = await api.get(`/api/class/${cls}/-/objects/${id}`)
  return r.status === 200 ? (r.json.entries.events ?? []) : []
}
const countIs = (cls: string, id: string, n: number) =>
  eventually(`${cls}/${id} has ${n} events`, async () => ((await events(cls, id)).length === n ? true : undefined))
const invoke = (id: string, fn: string, body?: unknown) =>
  api.post(`/api/class/trig.Sensor/-/objects/${id}/invokes/${fn}`, body)

describe("event triggers", () => {
  test("data triggers: create of any key, update of a watched key, only on real changes", async () => {
    expect((await invoke("s1", "set", { value: 1 })).status).toBe(200)
    await countIs("trig.Log", "creations", 2) // `value` and `count` were created
    expect((await invoke("s1", "set", { value: 2 })).status).toBe(200)
    await countIs("trig.Sensor", "s1", 1) // `value` changed: `record` ran on s1 itself...
    await countIs("trig.Log", "creations", 4) // ...and created its `events` and `seen` entries there
    expect((await invoke("s1", "set", { value: 2 })).status).toBe(200) // same value: no update event
    expect((await api.put("/api/class/trig.Sensor/-/objects/s2", { entries: { value: { deep: [1] } } })).status).toBe(
      201,
    )
    await countIs("trig.Log", "creations", 5) // plain object writes fire triggers too
    await Bun.sleep(300)
    expect(await events("trig.Sensor", "s1")).toHaveLength(1)
    expect(await events("trig.Log", "creations")).toHaveLength(5)
  })

  test("function triggers: complete and error", async () => {
    expect((await invoke("f1", "increment")).status).toBe(200)
    expect((await invoke("f1", "increment")).status).toBe(200)
    await countIs("trig.Log", "completions", 2)
    expect((await invoke("f1", "fail")).status).toBe(422)
    await countIs("trig.Log", "errors", 1)
    // The error event tells what failed.
    const log = await api.get("/api/class/trig.Log/-/objects/errors")
    expect(log.json.entries.seen).toEqual(["FUNC_ERROR:f1:fail"])
    // Event ids are fresh per commit (a reused invocation id must not shadow a new event).
    expect(log.json.entries.events[0]).toMatch(/^evt-.*\.f\.0$/)
  })

  test("per-object triggers, kept across writes", async () => {
    const trigger = { event: "DATA_DELETE", source: "value", target: log("deletions") }
    expect(
      (await api.put("/api/class/trig.Sensor/-/objects/o1", { entries: { value: 1 }, triggers: [trigger] })).status,
    ).toBe(201)
    expect((await api.patch("/api/class/trig.Sensor/-/objects/o1", { entries: { other: true } })).status).toBe(200)
    expect((await api.patch("/api/class/trig.Sensor/-/objects/o1", { delete: ["value"] })).status).toBe(200)
    await countIs("trig.Log", "deletions", 1)
    expect((await api.get("/api/class/trig.Sensor/-/objects/o1")).json.triggers).toHaveLength(1)
  })

  test("a delivery the target refused is tried again and succeeds once the target accepts (a failure is not replayed)", async () => {
    const target = { cls: "trig.Log", function: "gate", objectId: "gate" }
    expect((await api.put("/api/class/trig.Log/-/objects/gate", { entries: {} })).status).toBe(201)
    // The event's id is the invocation id of every attempt; the first attempts answer APP_ERROR.
    expect(
      (await api.put("/api/class/trig.Sensor/-/objects/g1", {
        entries: { value: 1 },
        triggers: [{ event: "DATA_UPDATE", source: "value", target }],
      })).status,
    ).toBe(201)
    expect((await api.patch("/api/class/trig.Sensor/-/objects/g1", { entries: { value: 2 } })).status).toBe(200)
    await Bun.sleep(30)
    expect((await api.patch("/api/class/trig.Log/-/objects/gate", { entries: { value: "ready" } })).status).toBe(200)
    await eventually(
      "the gate counted the event once",
      async () => ((await api.get("/api/class/trig.Log/-/objects/gate")).json.entries.count === 1 ? true : undefined),
    )
    await Bun.sleep(300)
    expect((await api.get("/api/class/trig.Log/-/objects/gate")).json.entries.count).toBe(1)
  })

  test("undeliverable events are retried, then dead-lettered (API, RPC, metrics), and can be redriven", async () => {
    const unreachable = {
      name: "trig.Dead",
      partitionCount: 1,
      functions: { record: { url: "http://127.0.0.1:9" }, set: { url: probe.url } },
      triggers: [
        { event: "DATA_UPDATE", source: "value", target: { function: "record" } },
      ],
    }
    expect((await api.put("/api/collections/trig.Dead", unreachable)).status).toBe(200)
    expect((await api.post("/api/class/trig.Dead/-/objects/d1/invokes/set", { value: 1 })).status).toBe(200)
    expect((await api.post("/api/class/trig.Dead/-/objects/d1/invokes/set", { value: 2 })).status).toBe(200)
    const dead = await eventually("a dead letter", async () => {
      const r = await api.get("/api/dead-letters")
      return r.json.deadLetters.find((d: { payload: { target: { cls: string } } }) =>
        d.payload.target.cls === "trig.Dead"
      )
    })
    expect(dead.attempts).toBe(3)
    expect(dead.error).toMatch(/unavailable/)
    expect(dead.payload.event).toMatchObject({
      type: "TRIGGER_EVENT_DATA_UPDATE",
      sourceCls: "trig.Dead",
      sourceObjectId: "d1",
      source: "value",
    })

    const rpc = createClient(odgmv1.EventService, createConnectTransport({ baseUrl: odgm.url, httpVersion: "1.1" }))
    const listed = await rpc.listDeadLetters({ cls: "trig.Dead" })
    expect(listed.deadLetters.map((d) => d.id)).toEqual([dead.id])
    expect(listed.deadLetters[0]?.event?.sourceObjectId).toBe("d1")
    const metrics = await (await fetch(`${odgm.url}/metrics`)).text()
    expect(metrics).toMatch(/oprc_odgm_dead_letters_total\{cls="trig.Dead",fn="record"\} 1/)
    expect(metrics).toMatch(/oprc_odgm_trigger_retries_total\{cls="trig.Dead",fn="record"\} 2/)

    // The function gets an address; redriving delivers the event.
    expect(
      (await api.put("/api/collections/trig.Dead", {
        ...unreachable,
        functions: { ...unreachable.functions, record: { url: probe.url } },
      })).status,
    ).toBe(200)
    expect((await api.post(`/api/dead-letters/${dead.id}/redrive`)).status).toBe(200)
    await eventually(
      "redriven event delivered",
      async () => ((await events("trig.Dead", "d1")).includes(dead.id) ? true : undefined),
    )
    expect((await api.get("/api/dead-letters")).json.deadLetters.some((d: { id: string }) => d.id === dead.id)).toBe(
      false,
    )
    expect((await api.post(`/api/dead-letters/${dead.id}/redrive`)).status).toBe(404)
  })
})
