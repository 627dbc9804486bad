import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import {
  freePort,
  makeTempDir,
  type OtlpReceiver,
  removeTempDir,
  type ServerProcess,
  startOtlpReceiver,
} from "@oprc/test-harness"
import { CrmTestServer } from "../../../test/crm-test-server"
import { fastOrchestration, http, shopYaml, spawnPm, writeConfig } from "./support"

const dir = makeTempDir("pm-trace")
let otlp: OtlpReceiver
let crm: CrmTestServer
let pm: ServerProcess
let base: string

const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
const traceparent = `00-${traceId}-00f067aa0ba902b7-01`

beforeAll(async () => {
  otlp = startOtlpReceiver()
  crm = await CrmTestServer.start({ name: "traced", readyDelayMs: 50 })
  const port = await freePort()
  base = `http://127.0.0.1:${port}`
  const config = await writeConfig(dir, {
    storage: { kind: "memory" },
    clusters: [{ name: "traced", url: crm.url }],
    orchestration: fastOrchestration,
    telemetry: { log: { level: "warn" }, otlp: { endpoint: otlp.url } },
  })
  pm = await spawnPm({ dir, port, args: ["--config", config] })
})
afterAll(async () => {
  await pm.kill9()
  await crm.close()
  await otlp.stop()
  removeTempDir(dir)
})

describe("traces and metrics", () => {
  test("a CreateDeployment trace continues from the caller through the reconcile pass into the CRM call", async () => {
    const api = http(base, { traceparent })
    expect((await api.post("/api/v1/packages", await shopYaml(), "application/yaml")).status).toBe(201)
    expect(
      (await api.post("/api/v1/deployments", {
        key: "traced",
        packageName: "shop",
        classKey: "Order",
        targetClusters: ["traced"],
      })).status,
    ).toBe(201)
    const server = await otlp.waitForSpan(
      (s) => s.traceId === traceId && s.name === "http POST /api/v1/deployments",
      10_000,
    )
    const pass = await otlp.waitForSpan((s) => s.traceId === traceId && s.name === "Reconciler.reconcile", 10_000)
    const apply = await otlp.waitForSpan(
      (s) => s.traceId === traceId && s.name === "rpc.client oprc.crm.v1.RuntimeService/ApplyDeploymentUnit",
      10_000,
    )
    expect(server.resource["service.name"]).toBe("oprc-pm")
    expect(pass.attributes["oprc.deployment"]).toBe("traced")
    // The pass hangs under the request's span tree, and the CRM call under the pass.
    const byId = new Map(otlp.spans().filter((s) => s.traceId === traceId).map((s) => [s.spanId, s]))
    const ancestors = (spanId: string): Array<string> => {
      const s = byId.get(spanId)
      return s === undefined ? [] : [s.name, ...ancestors(s.parentSpanId)]
    }
    expect(ancestors(apply.spanId)).toContain("Reconciler.reconcile")
    expect(ancestors(pass.spanId)).toContain("http POST /api/v1/deployments")
  })

  test("the CRM receives the caller's trace id in traceparent", () => {
    const sent = crm.applied.find((a) => a.unitId === "traced-traced")
    expect(sent?.traceparent?.split("-")[1]).toBe(traceId)
  })

  test("metrics: latency histograms per method, deployments by phase, CRM calls per cluster", async () => {
    await http(base).get("/api/v1/deployments/traced?waitFor=Running&timeoutMs=5000")
    const text = await (await fetch(`${base}/metrics`)).text()
    const has = (re: RegExp) => expect(text.split("\n").some((l) => re.test(l))).toBe(true)
    has(/^oprc_http_request_duration_seconds_bucket\{.*route="\/api\/v1\/deployments".*\} \d+/)
    has(/^oprc_pm_deployments\{phase="Running"\} 1$/)
    has(/^oprc_pm_crm_call_duration_seconds_count\{.*cluster="traced".*method="ApplyDeploymentUnit".*\} [1-9]/)
    has(/^oprc_pm_cluster_breaker_state\{cluster="traced"\} 0$/)
    has(/^oprc_pm_cluster_availability\{cluster="traced"\} 0\.99$/)
    has(/^oprc_pm_reconcile_passes_total\{result="ok"\} [1-9]/)
  })
})
