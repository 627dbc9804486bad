import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { Effect, Layer, References, Schema } from "effect"
import { decodeDeploymentUnit, deploymentUnitToProto, type EnforcementMode } from "@oprc/models"
import { commonv1, type crmv1 } from "@oprc/proto"
import { startServer } from "@oprc/rpc"
import { freePort, makeTempDir, type PrometheusServer, removeTempDir, startPrometheus, waitFor } from "@oprc/test-harness"
import { CrmApp } from "../src/CrmApp"
import { CrmConfig } from "../src/config"
import { SD_PATH } from "../src/nfr"
import { load } from "./nfr-support/world"
import { bun, repoRoot, runtimeClient, startOdgm } from "./support"

// The whole NFR loop through the CRM itself: the process driver runs the worker replicas
// (nfr-support/worker.ts, ~100 calls/s each), Prometheus discovers them from the CRM's
// /api/v1/sd/targets, the CRM's analyzer reads Prometheus and its enforcer scales through the
// driver, and the numbers land in the unit's NfrObserved condition and recommendation.

const nfr = { intervalMs: 1000, rateWindowMs: 5000, stabilityMs: 3000, cooldownMs: 8000, defaultReplicaCapacityRps: 40 }

let odgm: Awaited<ReturnType<typeof startOdgm>>
let prometheus: PrometheusServer
let crm: Awaited<ReturnType<typeof startServer>>
let client: ReturnType<typeof runtimeClient>
let dir: string

beforeAll(async () => {
  dir = makeTempDir("nfr-crm")
  odgm = await startOdgm()
  // Prometheus needs the CRM's URL and the CRM Prometheus's: fix the CRM's port first.
  const crmPort = await freePort()
  prometheus = await startPrometheus({ targets: [], httpSd: { url: `http://127.0.0.1:${crmPort}${SD_PATH}`, refreshIntervalMs: 1000 } })
  const config = Schema.decodeUnknownSync(CrmConfig)({
    server: { host: "127.0.0.1", port: crmPort, shutdownGraceMs: 200 },
    storage: { kind: "memory" },
    odgm: { url: odgm.url },
    driver: { process: { workDir: repoRoot, logDir: `${dir}/logs`, stopGraceMs: 1000, restartBaseMs: 100 } },
    reconcile: { resyncMs: 2000 },
    nfr: { prometheusUrl: prometheus.url, ...nfr },
  })
  const quiet = Layer.succeed(References.MinimumLogLevel, process.env.CRM_TEST_LOGS ? "Debug" : "Warn")
  crm = await startServer(CrmApp(config).pipe(Layer.provide(quiet)))
  client = runtimeClient(crm.url)
}, 60_000)

afterAll(async () => {
  await crm?.stop()
  await prometheus?.stop()
  await odgm?.stop()
  if (dir) removeTempDir(dir)
})

const workerUnit = (id: string, enforcement: EnforcementMode) =>
  Effect.runSync(decodeDeploymentUnit({
    id,
    deploymentKey: id.replace(/-local$/, ""),
    packageName: "nfr",
    packageVersion: "1.0.0",
    cluster: "local",
    cls: { key: "Worker", bindings: [{ name: "work", function: "Worker.fn", stateless: true }] },
    functions: [{
      key: "Worker.fn",
      provision: { command: [bun, "services/crm/test/nfr-support/worker.ts"], minScale: 1, maxScale: 2 },
      config: { WORK_MS: "10" },
    }],
    nfr: { minThroughputRps: 250, maxLatencyP99Ms: 1000 },
    enforcement,
    generation: 1,
  }))

const statusOf = async (unitId: string) => (await Effect.runPromise(client.getDeploymentUnit({ unitId }))).status!
const nfrCondition = (s: crmv1.DeploymentUnitStatus) => s.conditions.find((c) => c.type === "NfrObserved")
const untilRunning = (unitId: string) =>
  waitFor(`${unitId} Running`, async () => {
    const s = await statusOf(unitId)
    return s.phase === commonv1.DeploymentPhase.RUNNING ? s : undefined
  }, { timeoutMs: 30_000, intervalMs: 100 })

describe("NFR loop inside the CRM, against a real Prometheus", () => {
  test("observe mode: NfrObserved carries the live numbers and the recommendation; replicas stay", async () => {
    const unit = workerUnit("nfr-observe-local", "OBSERVE")
    await Effect.runPromise(client.applyDeploymentUnit({ unit: deploymentUnitToProto(unit) }))
    await untilRunning(unit.id)
    const loadRun = load(odgm.url, 6, 15_000, "nfr.Worker")
    const seen = await waitFor("a recommendation from live numbers", async () => {
      const s = await statusOf(unit.id)
      return (s.recommendation?.observedRps ?? 0) > 50 && (s.recommendation?.replicas ?? 0) > 1 ? s : undefined
    }, { timeoutMs: 30_000, intervalMs: 250 })
    expect(nfrCondition(seen)).toMatchObject({ status: commonv1.ConditionStatus.TRUE, reason: "Recommending" })
    expect(nfrCondition(seen)!.message).toMatch(/function Worker\.fn: [\d.]+ rps, p99 [\d.]+ ms, errors 0%, cpu [\d.]+ cores, memory \d+ MiB/)
    expect(seen.recommendation!.replicas).toBe(2)
    expect(seen.recommendation!.observedP99Ms).toBeGreaterThan(10)
    expect((await loadRun).failed).toBe(0)
    const after = await statusOf(unit.id)
    expect(after.functions[0]).toMatchObject({ desiredReplicas: 1, readyReplicas: 1 })
    await Effect.runPromise(client.deleteDeploymentUnit({ unitId: unit.id }))
  }, 90_000)

  test("enforce mode: out to maxScale under load through the process driver, load spread by ODGM over both replicas, back in to minScale after the cooldown", async () => {
    const unit = workerUnit("nfr-enforce-local", "ENFORCE")
    await Effect.runPromise(client.applyDeploymentUnit({ unit: deploymentUnitToProto(unit) }))
    await untilRunning(unit.id)
    const started = Date.now()
    const stopLoad = new AbortController()
    const firstLoad = load(odgm.url, 6, 60_000, "nfr.Worker", stopLoad.signal)
    const scaled = await waitFor("two ready replicas", async () => {
      const s = await statusOf(unit.id)
      return s.functions[0]?.readyReplicas === 2 ? s : undefined
    }, { timeoutMs: 55_000, intervalMs: 100 })
    const servingAt = Date.now()
    expect(scaled.functions[0]!.desiredReplicas).toBe(2)
    // With both serving, ODGM spreads calls over both processes.
    const spread = await load(odgm.url, 4, 4000, "nfr.Worker")
    stopLoad.abort()
    const result = await firstLoad
    expect(result.failed + spread.failed).toBe(0)
    const pids = [...spread.pids.values()].sort((a, b) => a - b)
    expect(pids.length).toBe(2)
    expect(pids[0]!).toBeGreaterThan(0.25 * spread.ok)
    const stopped = Date.now()
    const back = await waitFor("back to one replica", async () => {
      const s = await statusOf(unit.id)
      return s.functions[0]?.desiredReplicas === 1 ? s : undefined
    }, { timeoutMs: 40_000, intervalMs: 200 })
    // Never past maxScale (2), never under minScale (1).
    expect(back.functions[0]!.desiredReplicas).toBe(1)
    // The loop's own metrics on the CRM's /metrics.
    const metrics = await (await fetch(`${crm.url}/metrics`)).text()
    expect(metrics).toMatch(/oprc_crm_nfr_scale_actions_total\{[^}]*direction="out"[^}]*\} [1-9]/)
    expect(metrics).toMatch(/oprc_crm_nfr_scale_actions_total\{[^}]*direction="in"[^}]*\} [1-9]/)
    expect(metrics).toMatch(/oprc_crm_nfr_observations_total\{[^}]*reason="Scaled"[^}]*\} [1-9]/)
    console.log(`NFR in the CRM: second replica serving ${servingAt - started} ms after load start; scaled in ${Date.now() - stopped} ms after the load stopped; calls per pid ${JSON.stringify(pids)}`)
    await Effect.runPromise(client.deleteDeploymentUnit({ unitId: unit.id }))
  }, 120_000)
})
