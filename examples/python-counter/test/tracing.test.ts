import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import {
  ensurePythonModules,
  freePort,
  makeTempDir,
  type OtlpReceiver,
  type ServerProcess,
  spawnServer,
  startOtlpReceiver,
  waitForHttp,
} from "@oprc/test-harness"
import { collectionsOf, examplesDir, post } from "../../support/harness.ts"

// One invocation through ODGM's REST gateway into the Python function arrives at a real OTLP
// receiver as one trace: the function's server span is a child of ODGM's call to it.
let otlp: OtlpReceiver
let fn: ServerProcess
let odgm: { readonly url: string; readonly proc: ServerProcess }

beforeAll(async () => {
  otlp = startOtlpReceiver()
  const python = await ensurePythonModules()
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  fn = spawnServer({
    name: "python-counter-traced",
    cmd: [python, join(examplesDir, "python-counter", "main.py")],
    ports: [port],
    env: {
      PORT: String(port),
      HOST: "127.0.0.1",
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_SERVICE_NAME: "pycounter.Counter/Counter.py",
      OTEL_RESOURCE_ATTRIBUTES: "oprc.deployment=trace-test",
    },
  })
  await waitForHttp(`${url}/readyz`, (s) => s === 200, 20_000, {
    abortIf: () => (fn.alive() ? undefined : fn.logTail()),
  })
  // ODGM as its binary runs it (telemetry is set up by the binary's entry point), from source.
  const collections = join(makeTempDir("pycounter-trace"), "collections.json")
  writeFileSync(collections, JSON.stringify({ collections: collectionsOf("python-counter", url) }))
  const odgmPort = await freePort()
  const proc = spawnServer({
    name: "odgm-traced",
    cmd: [
      process.execPath,
      join(examplesDir, "..", "services/odgm/src/main.ts"),
      "--host",
      "127.0.0.1",
      "--port",
      String(odgmPort),
      "--storage",
      "memory",
      "--collections",
      collections,
    ],
    ports: [odgmPort],
    env: { OPRC_TELEMETRY_OTLP_ENDPOINT: otlp.url, OPRC_TELEMETRY_LOG_LEVEL: "warn" },
  })
  odgm = { url: `http://127.0.0.1:${odgmPort}`, proc }
  await waitForHttp(`${odgm.url}/readyz`, (s) => s === 200, 30_000, {
    abortIf: () => (proc.alive() ? undefined : proc.logTail()),
  })
}, 60_000)

afterAll(async () => {
  await odgm?.proc.stop()
  await fn?.stop(3000)
  await otlp?.stop()
})

describe("traces", () => {
  test("gateway -> ODGM -> Python function is one trace; the function's span is a child of ODGM's", async () => {
    const reply = await post(`${odgm.url}/api/class/pycounter.Counter/-/objects/t1/invokes/increment`, { by: 7 })
    expect(reply).toEqual({ status: 200, json: { count: 7 } })
    const fnSpan = await otlp.waitForSpan(
      (s) => s.resource["service.name"] === "pycounter.Counter/Counter.py" && s.attributes["oprc.object_id"] === "t1",
      20_000,
    )
    expect(fnSpan).toMatchObject({
      name: "oprc.function.v1.FunctionService/Invoke increment",
      kind: 2,
      status: { code: 1 },
    })
    expect(fnSpan.resource["oprc.deployment"]).toBe("trace-test")
    expect(fnSpan.attributes["oprc.class"]).toBe("pycounter.Counter")
    // ODGM's spans of the same request, exported by ODGM itself, share the trace; one is the parent.
    const odgmSpans = await (async () => {
      for (let i = 0; i < 200; i++) {
        const same = otlp.spans().filter((s) =>
          s.traceId === fnSpan.traceId && s.resource["service.name"] !== "pycounter.Counter/Counter.py"
        )
        if (same.some((s) => s.spanId === fnSpan.parentSpanId)) return same
        await Bun.sleep(50)
      }
      return otlp.spans().filter((s) => s.traceId === fnSpan.traceId)
    })()
    expect(fnSpan.parentSpanId).toMatch(/^[0-9a-f]{16}$/)
    expect(odgmSpans.map((s) => s.spanId)).toContain(fnSpan.parentSpanId)
    // Every span of the trace hangs together: its root is ODGM's server span of the REST request.
    const byId = new Map(odgmSpans.map((s) => [s.spanId, s]))
    let root = byId.get(fnSpan.parentSpanId)!
    while (root.parentSpanId !== "" && byId.has(root.parentSpanId)) root = byId.get(root.parentSpanId)!
    expect(root.parentSpanId).toBe("")
    expect(root.kind).toBe(2)
  }, 60_000)

  test("an INVALID answer is an error span", async () => {
    expect((await post(`${odgm.url}/api/class/pycounter.Counter/-/objects/t2/invokes/increment`, { by: "x" })).status)
      .toBe(400)
    const span = await otlp.waitForSpan(
      (s) => s.resource["service.name"] === "pycounter.Counter/Counter.py" && s.attributes["oprc.object_id"] === "t2",
      20_000,
    )
    expect(span.status).toEqual({ code: 2, message: "\"by\" must be a number" })
  }, 30_000)
})
