import { afterAll, beforeAll, expect, test } from "bun:test"
import { expectConsistent } from "../../support/consistency.ts"
import { post, startExample, startOdgmFor } from "../../support/harness.ts"

let fn: Awaited<ReturnType<typeof startExample>>
let odgm: Awaited<ReturnType<typeof startOdgmFor>>
beforeAll(async () => {
  fn = await startExample("sensor")
  odgm = await startOdgmFor("sensor", fn.url)
}, 30_000)
afterAll(async () => {
  await odgm?.stop()
  await fn?.proc.stop()
})

const call = (id: string, f: string, body?: unknown) =>
  post(`${odgm.url}/api/class/sensor.Sensor/-/objects/${id}/invokes/${f}`, body)

const alertsOf = async (id: string, n: number) => {
  const until = Date.now() + 10_000
  for (;;) {
    const s = (await call(id, "status")).json as { alerts: string[] }
    if (s.alerts.length >= n || Date.now() > until) return s.alerts
    await Bun.sleep(50)
  }
}

test("package.yaml is valid and matches collections.yaml", () => expectConsistent("sensor"))

test("an update of `reading` triggers `check`, which raises alerts over the threshold", async () => {
  await call("s1", "setThreshold", { threshold: 50 })
  expect(await call("s1", "record", { value: 10 })).toEqual({ status: 200, json: { reading: 10 } }) // created: no update event
  await call("s1", "record", { value: 80 }) // update over the threshold -> alert
  expect(await alertsOf("s1", 1)).toEqual(["DATA_UPDATE: reading=80 > 50"])
  await call("s1", "record", { value: 20 }) // update under the threshold -> no alert
  await call("s1", "record", { value: 99 })
  expect(await alertsOf("s1", 2)).toEqual(["DATA_UPDATE: reading=80 > 50", "DATA_UPDATE: reading=99 > 50"])
  // check is INTERNAL: only the trigger (ODGM itself) may call it.
  expect((await call("s1", "check", { eventId: "x", type: "t", sourceCls: "c", source: "reading" })).status).toBe(403)
})
