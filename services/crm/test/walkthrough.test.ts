import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import {
  diedWith,
  freePorts,
  makeTempDir,
  removeTempDir,
  type ServerProcess,
  spawnServer,
  waitForHttp,
} from "@oprc/test-harness"
import { eventually, pidsOfUnit, repoRoot } from "./support"

// docs/crm.md's curl walkthrough, block by block, against `oprc dev` (what `npm start` runs)
// on free ports with its data in a temporary folder.
const dataDir = makeTempDir("crm-walkthrough")
let dev: ServerProcess
let env: Record<string, string>

const blocks = (): Array<string> => {
  const doc = readFileSync(join(repoRoot, "docs/crm.md"), "utf8")
  const section = doc.slice(doc.indexOf("<!-- walkthrough:start -->"), doc.indexOf("<!-- walkthrough:end -->"))
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!)
}

beforeAll(async () => {
  const [pm, odgm, crm] = await freePorts(3)
  env = { PM: `http://127.0.0.1:${pm}`, ODGM: `http://127.0.0.1:${odgm}`, CRM: `http://127.0.0.1:${crm}` }
  const config = join(dataDir, "dev.yaml")
  writeFileSync(
    config,
    JSON.stringify({
      pm: { storage: { kind: "sqlite", sqlite: { path: join(dataDir, "pm.sqlite") } } },
      odgm: { storage: { kind: "sqlite", sqlite: { path: join(dataDir, "odgm.sqlite") } } },
      crm: {
        storage: { sqlite: { path: join(dataDir, "crm.sqlite") } },
        driver: { process: { logDir: join(dataDir, "logs") } },
      },
      telemetry: { log: { level: "warn" } },
    }),
  )
  dev = spawnServer({
    name: "oprc-dev",
    cmd: [
      process.execPath,
      "services/cli/src/main.ts",
      "dev",
      "--config",
      config,
      "--pm-port",
      String(pm),
      "--odgm-port",
      String(odgm),
      "--crm-port",
      String(crm),
    ],
    cwd: repoRoot,
    ports: [pm!, odgm!, crm!],
  })
  for (const url of Object.values(env)) {
    await waitForHttp(`${url}/readyz`, (s) => s === 200, 60_000, { abortIf: diedWith(dev) })
  }
}, 90_000)

afterAll(async () => {
  await dev?.stop()
  for (const pid of pidsOfUnit("counter-dev-local")) process.kill(-pid, "SIGKILL")
  removeTempDir(dataDir)
})

const run = async (script: string) => {
  const p = Bun.spawn(["bash", "-eo", "pipefail", "-c", script], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdout: "pipe",
    stderr: "pipe",
  })
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
  if (code !== 0) throw new Error(`block failed (exit ${code}):\n${script}\n--- stdout\n${out}\n--- stderr\n${err}`)
  return out
}

describe("docs/crm.md walkthrough on oprc dev", () => {
  test("every step runs and says what the doc says", async () => {
    const steps = blocks()
    expect(steps.length).toBe(5)
    const out: Array<string> = []
    for (const step of steps) out.push(await run(step))
    expect(out[0]).toBe("package counter 1.0.0\ndeployment counter-dev on local\n")
    const status = out[1]!.split("\n")
    expect(status.slice(0, 7)).toEqual([
      "Running: running on local (generation 1)",
      "  local: generation 1 running: Counter.fn 1/1",
      "DEPLOYMENT_PHASE_RUNNING",
      "Counter.fn 1/1 ready",
      "Available=CONDITION_STATUS_TRUE ReplicasReady",
      "Progressing=CONDITION_STATUS_FALSE Settled",
      "Degraded=CONDITION_STATUS_FALSE Healthy",
    ])
    expect(out[1]).toMatch(/NfrObserved=CONDITION_STATUS_UNKNOWN \w+\n$/)
    expect(out[2]).toBe("{\"count\":5}\n{\"count\":5}\n")
    expect(out[3]).toMatch(
      /^[1-5] log line\(s\)\nlocal process healthy=true units=1 replicas=1\nstorage \(sqlite\)=true odgm=true\n$/,
    )
    expect(out[4]).toMatch(/^Deleting\n/)
    expect(out[4]).toContain("invoke after delete: HTTP 404\n")
    await eventually(
      "no function process left",
      async () => (pidsOfUnit("counter-dev-local").length === 0 ? true : undefined),
      10_000,
    )
  }, 90_000)
})
