import { afterAll, beforeAll, expect, test } from "bun:test"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { freePort, makeTempDir } from "@oprc/test-harness"
import {
  eventually,
  type FunctionProcess,
  probeCollection,
  probeEntry,
  rest,
  spawnOdgm,
  sqliteArgs,
  startFunction,
} from "./support/odgm.ts"

// SIGKILL ODGM while trigger deliveries are pending (their target is down, so they sit in the
// outbox with retries scheduled, some claimed mid-delivery). After a restart on the same SQLite
// file every trigger is delivered: none lost, none recorded twice.

const M = 40
let target: FunctionProcess | undefined
let dir: string
let targetPort: number

beforeAll(async () => {
  dir = makeTempDir("odgm-crash")
  targetPort = await freePort()
  const targetUrl = `http://127.0.0.1:${targetPort}`
  writeFileSync(
    join(dir, "collections.json"),
    JSON.stringify({
      collections: [
        probeCollection("crash.Log", targetUrl),
        probeCollection("crash.Src", targetUrl, {
          triggers: [{
            event: "DATA_CREATE",
            source: "value",
            target: { cls: "crash.Log", function: "record", objectId: "log" },
          }],
        }),
      ],
    }),
  )
})
afterAll(() => target?.stop())

test("pending triggers survive SIGKILL and are all delivered after the restart", async () => {
  const args = sqliteArgs(join(dir, "odgm.sqlite"), join(dir, "collections.json"))
  const env = {
    OPRC_INVOCATION_TIMEOUT_MS: "1000",
    OPRC_TRIGGERS_LEASE_MARGIN_MS: "500",
    OPRC_TRIGGERS_BACKOFF_BASE_MS: "50",
    OPRC_TRIGGERS_BACKOFF_MAX_MS: "300",
    OPRC_TRIGGERS_MAX_ATTEMPTS: "1000",
    OPRC_TRIGGERS_POLL_INTERVAL_MS: "50",
  }
  const first = await spawnOdgm(args, { env })
  const api = rest(first.url)
  for (let i = 0; i < M; i++) {
    expect((await api.put(`/api/class/crash.Src/-/objects/s${i}`, { entries: { value: i } })).status).toBe(201)
  }
  // Deliveries are being attempted (and failing: the target is down).
  await eventually(
    "delivery retries",
    async () => ((await (await fetch(`${first.url}/metrics`)).text()).match(
        /oprc_odgm_trigger_retries_total\{[^}]*\} ([1-9]\d*)/,
      )
      ? true
      : undefined),
  )
  await first.proc.kill9()

  target = await startFunction(probeEntry, { port: targetPort })
  const second = await spawnOdgm(args, { env, port: first.port })
  try {
    const log = await eventually(`all ${M} triggers delivered`, async () => {
      const r = await rest(second.url).get("/api/class/crash.Log/-/objects/log")
      return r.status === 200 && r.json.entries.seen.length >= M ? r.json.entries : undefined
    }, 20_000)
    expect([...log.seen].sort()).toEqual(Array.from({ length: M }, (_, i) => `DATA_CREATE:s${i}:value`).sort())
    expect(new Set(log.events).size).toBe(M)
    await Bun.sleep(500)
    expect((await rest(second.url).get("/api/class/crash.Log/-/objects/log")).json.entries.seen).toHaveLength(M)
    expect((await rest(second.url).get("/api/dead-letters")).json.deadLetters).toEqual([])
  } finally {
    await second.proc.stop(5000)
  }
}, 60_000)
