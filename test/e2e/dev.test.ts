import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { existsSync } from "node:fs"
import { join } from "node:path"
import {
  type DevPlatform,
  freePorts,
  isPidAlive,
  killReplicas,
  makeTempDir,
  type PrometheusServer,
  removeTempDir,
  startOprcDev,
  startPrometheus,
} from "../harness/index.ts"
import {
  applyAndDeploy,
  crossClassTrigger,
  nfrObserved,
  objectsAndInvocations,
  type Platform,
  teardown,
  unitsOf,
} from "./flow"
import { binaryDir, repoRoot } from "./support"

// The same flow as distributed.test.ts on the embedded defaults: one `dist/oprc dev` (PM, CRM
// with the process driver and ODGM in one process, all on SQLite), its one cluster `local`.
// services/cli/test/dev.test.ts covers `--apply`, the printed lines and the CLI against it; this
// run drives the platform flow over REST. A real Prometheus scrapes the CRM's SD endpoint.
const dataDir = makeTempDir("e2e-dev")
let dev: DevPlatform
let prometheus: PrometheusServer
let platform: Platform

beforeAll(async () => {
  const bin = await binaryDir()
  const ports = (await freePorts(3)) as [number, number, number]
  prometheus = await startPrometheus({
    targets: [],
    scrapeIntervalMs: 1000,
    httpSd: { url: `http://127.0.0.1:${ports[2]}/api/v1/sd/targets`, refreshIntervalMs: 1000 },
  })
  dev = startOprcDev(join(bin, "oprc"), {
    ports,
    dataDir,
    cwd: repoRoot,
    args: [
      "--set",
      `crm.nfr.prometheusUrl=${prometheus.url}`,
      "--set",
      "crm.nfr.intervalMs=1000",
      "--set",
      "crm.nfr.rateWindowMs=3000",
      "--set",
      "odgm.triggers.pollIntervalMs=50",
    ],
  })
  platform = { pm: dev.pmUrl, odgm: { local: dev.odgmUrl }, crm: { local: dev.crmUrl } }
  await dev.waitForReady()
}, 120_000)

afterAll(async () => {
  if (dev !== undefined && dev.exitCode() === null) {
    dev.kill("SIGKILL")
    await dev.exited
  }
  if (platform !== undefined) killReplicas(unitsOf(platform))
  await prometheus?.stop()
  removeTempDir(dataDir)
})

describe("the platform flow on one `oprc dev`", () => {
  test("packages with a dependency deploy to cluster local and reach Running", () => applyAndDeploy(platform), 90_000)
  test("objects: put/get, sync and async invocations (GetResult)", () => objectsAndInvocations(platform), 60_000)
  test(
    "a trigger crosses classes: each tally increment increments counter object total",
    () => crossClassTrigger(platform),
    40_000,
  )
  test("NFR observe mode reports numbers measured by Prometheus", () => nfrObserved(platform), 60_000)
  test(
    "delete the deployments and the packages: no function process, no collection, no unit is left",
    () => teardown(platform, ["tally-e2e", "counter-e2e"], ["tally", "counter"]),
    60_000,
  )

  test("everything lived in the data dir; Ctrl-C ends oprc dev with 0", async () => {
    for (const f of ["pm.sqlite", "odgm.sqlite", "crm.sqlite", "crm-logs"]) {
      expect(existsSync(join(dataDir, f)), f).toBe(true)
    }
    const pid = dev.pid
    dev.kill("SIGINT")
    expect(await Promise.race([dev.exited, Bun.sleep(15_000).then(() => "still running after 15 s")])).toBe(0)
    expect(isPidAlive(pid)).toBe(false)
  }, 30_000)
})
