import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { join } from "node:path"
import {
  binaryDir,
  diedWith,
  freePorts,
  makeTempDir,
  type OtlpReceiver,
  removeTempDir,
  type ServerProcess,
  startOtlpReceiver,
  waitForHttp,
} from "@oprc/test-harness"
import {
  allReady,
  eventually,
  pidsOfUnit,
  repoRoot,
  spawnCompiledCrm,
  spawnCompiledOdgm,
  spawnPmOfLocalCluster,
  stopInOrder,
} from "./support"

// The acceptance path with separate compiled binaries: PM -> CRM (process driver) -> ODGM, the
// counter example deployed through the PM's REST API, invoked through ODGM, the CRM SIGKILLed
// under load and restarted (same replicas, no duplicates), and a delete that leaves nothing.
// The compiled binaries, built once per test process (test/harness binaries.ts).
let buildDir: string
const dataDir = makeTempDir("crm-bin-data")
const unitId = "counter-dev-local"
let pm: ServerProcess
let crm: ServerProcess
let odgm: ServerProcess
let ports: Array<number>
let PM: string
let ODGM: string
let otlp: OtlpReceiver
const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"

const startCrm = () =>
  spawnCompiledCrm({
    buildDir,
    dataDir,
    port: ports[1]!,
    cwd: repoRoot,
    odgmUrl: ODGM,
    storage: ["--sqlite-path", join(dataDir, "crm.sqlite")],
    env: {
      OPRC_DRIVER_PROCESS_LOG_DIR: join(dataDir, "logs"),
      OPRC_RECONCILE_RESYNC_MS: "1000",
      OPRC_TELEMETRY_OTLP_ENDPOINT: otlp.url,
    },
  })

const json = async (res: Response) => {
  const text = await res.text()
  if (res.status >= 300) throw new Error(`HTTP ${res.status}: ${text}`)
  return JSON.parse(text)
}
const invoke = (fn: string, body = "{}") =>
  fetch(`${ODGM}/api/class/counter.Counter/-/objects/b1/invokes/${fn}?timeoutMs=3000`, {
    method: "POST",
    body,
    headers: { "content-type": "application/json" },
  })

beforeAll(async () => {
  buildDir = await binaryDir()
  ports = await freePorts(3)
  otlp = startOtlpReceiver()
  PM = `http://127.0.0.1:${ports[0]}`
  ODGM = `http://127.0.0.1:${ports[2]}`
  odgm = spawnCompiledOdgm({ buildDir, dataDir, port: ports[2]!, env: { OPRC_TELEMETRY_OTLP_ENDPOINT: otlp.url } })
  crm = startCrm()
  pm = spawnPmOfLocalCluster({
    buildDir,
    dataDir,
    port: ports[0]!,
    crmPort: ports[1]!,
    env: { OPRC_TELEMETRY_OTLP_ENDPOINT: otlp.url },
  })
  await allReady([[ports[2]!, odgm], [ports[1]!, crm], [ports[0]!, pm]])
}, 240_000)

afterAll(async () => {
  await stopInOrder([pm, crm, odgm])
  await otlp?.stop()
  // Replicas outlive a CRM on purpose (adoption); never leave any behind on a shared machine.
  for (const pid of pidsOfUnit(unitId)) process.kill(-pid, "SIGKILL")
  removeTempDir(dataDir)
})

describe("PM -> CRM -> ODGM as compiled binaries", () => {
  test(
    "the counter deploys to Running, answers, survives a CRM SIGKILL without duplicates, and delete leaves nothing",
    async () => {
      await json(
        await fetch(`${PM}/api/v1/packages`, {
          method: "POST",
          headers: { "content-type": "application/yaml" },
          body: Bun.file(join(repoRoot, "examples/counter/package.yaml")),
        }),
      )
      const traceparent = `00-${traceId}-00f067aa0ba902b7-01`
      await json(
        await fetch(`${PM}/api/v1/deployments`, {
          method: "POST",
          headers: { "content-type": "application/yaml", traceparent },
          body: Bun.file(join(repoRoot, "examples/counter/deployment.yaml")),
        }),
      )
      const running = await json(await fetch(`${PM}/api/v1/deployments/counter-dev?waitFor=Running&timeoutMs=30000`))
      expect(running.status.phase).toBe("Running")
      expect(running.status.clusters[0].message).toContain("Counter.fn 1/1")
      // The PM shows each function's readiness as the CRM reports it.
      expect(running.status.clusters[0].functions, JSON.stringify(running.status.clusters[0].functions)).toEqual([{
        function: "Counter.fn",
        desiredReplicas: 1,
        readyReplicas: 1,
        message: "",
      }])
      expect(await json(await invoke("increment", `{"by": 2}`))).toEqual({ count: 2 })
      // One trace from the user's request through the PM's pass and the CRM's pass into ODGM.
      const inTrace = (service: string) =>
        otlp.waitForSpan((sp) => sp.traceId === traceId && sp.resource["service.name"] === service, 15_000)
      const [pmSpan, crmSpan, odgmSpan] = await Promise.all([
        inTrace("oprc-pm"),
        inTrace("oprc-crm"),
        inTrace("oprc-odgm"),
      ])
      expect([pmSpan.traceId, crmSpan.traceId, odgmSpan.traceId]).toEqual([traceId, traceId, traceId])
      await otlp.waitForSpan((sp) => sp.traceId === traceId && sp.name === "OdgmCollections.apply", 15_000)
      const before = pidsOfUnit(unitId)
      expect(before.length).toBe(1)

      let stop = false
      let slowest = 0
      const load = async () => {
        while (!stop) {
          const t = performance.now()
          await (await invoke("get")).arrayBuffer()
          slowest = Math.max(slowest, performance.now() - t)
        }
      }
      const loop = load()
      await crm.kill9()
      // Functions keep serving while their CRM is down.
      expect((await invoke("increment")).status).toBe(200)
      crm = startCrm()
      await waitForHttp(`http://127.0.0.1:${ports[1]}/readyz`, (status) => status === 200, 30_000, {
        abortIf: diedWith(crm),
      })
      const unit = await eventually("the restarted CRM reports the unit Running", async () => {
        const r = await fetch(`http://127.0.0.1:${ports[1]}/oprc.crm.v1.RuntimeService/GetDeploymentUnit`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ unitId }),
        })
        const body = r.status === 200
          ? (await r.json()) as { status?: { phase?: string; functions: Array<{ readyReplicas: number }> } }
          : undefined
        return body?.status?.phase === "DEPLOYMENT_PHASE_RUNNING" ? body : undefined
      })
      expect(unit.status?.functions[0]?.readyReplicas).toBe(1)
      await Bun.sleep(1500)
      stop = true
      await loop
      expect(pidsOfUnit(unitId)).toEqual(before)
      expect(slowest).toBeLessThan(5000)

      const deleted = await fetch(`${PM}/api/v1/deployments/counter-dev`, { method: "DELETE" })
      expect(deleted.status).toBeLessThan(300)
      await eventually(
        "deployment gone",
        async () => ((await fetch(`${PM}/api/v1/deployments/counter-dev`)).status === 404 ? true : undefined),
        30_000,
      )
      await eventually("processes gone", async () => (pidsOfUnit(unitId).length === 0 ? true : undefined), 10_000)
      expect((await invoke("get")).status).toBe(404)
    },
    120_000,
  )
})
