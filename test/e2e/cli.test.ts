import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import {
  type Cli,
  cliRunner,
  type DevPlatform,
  freePort,
  freePorts,
  killReplicas,
  makeTempDir,
  pidsOfUnit,
  removeTempDir,
  runInPty,
  startOprcDev,
  waitFor,
} from "../harness/index.ts"
import { binaryDir, repoRoot, tallyPackage } from "./support"

// The flow a third time, driven only through the compiled `oprc` CLI (against one `oprc dev`):
// every step asserts on `-o json` output and exit codes, as a script would.
const dir = makeTempDir("e2e-cli")
const UNITS = ["counter-cli-local", "tally-cli-local"]
let dev: DevPlatform
let cli: Cli
let binary: string
const tallyFile = join(dir, "tally.yaml")
const deploymentsFile = join(dir, "deployments.yaml")

beforeAll(async () => {
  binary = join(await binaryDir(), "oprc")
  const ports = (await freePorts(3)) as [number, number, number]
  dev = startOprcDev(binary, {
    ports,
    dataDir: join(dir, "data"),
    cwd: repoRoot,
    args: ["--set", "odgm.triggers.pollIntervalMs=50"],
  })
  cli = cliRunner(binary, { OPRC_PM_URL: dev.pmUrl, OPRC_ODGM_URL: dev.odgmUrl, OPRC_CRM_URL: dev.crmUrl }, repoRoot)
  writeFileSync(tallyFile, tallyPackage())
  writeFileSync(
    deploymentsFile,
    [
      "key: counter-cli\npackageName: counter\nclassKey: Counter\ntargetClusters: [local]\nodgm: {partitionCount: 2}",
      "key: tally-cli\npackageName: tally\nclassKey: Tally\ntargetClusters: [local]\nodgm: {partitionCount: 2}",
    ].join("\n---\n") + "\n",
  )
  await dev.waitForReady()
}, 120_000)

afterAll(async () => {
  if (dev !== undefined && dev.exitCode() === null) {
    dev.kill("SIGINT")
    await Promise.race([dev.exited, Bun.sleep(10_000)])
    if (dev.exitCode() === null) dev.kill("SIGKILL")
  }
  killReplicas(UNITS)
  removeTempDir(dir)
})

const run = async (...args: Array<string>) => cli.run([...args, "-o", "json"])
const okJson = async (...args: Array<string>) => {
  const r = await run(...args)
  expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: r.code === 0 ? r.stderr : "" })
  return r.json()
}

describe("the platform flow through dist/oprc only", () => {
  test("pkg apply: the dependent is refused with one line and the field path until its dependency exists", async () => {
    const early = await cli.run(["pkg", "apply", "-f", tallyFile])
    expect(early.code).toBe(1)
    const lines = early.stderr.trim().split("\n")
    expect(lines[0]).toMatch(/^error: PM: .*\(invalid_argument, HTTP 400\)$/)
    expect(lines.slice(1).some((l) => l.trim().startsWith("dependencies[0].name:"))).toBe(true)
    expect(await okJson("pkg", "apply", "-f", "examples/counter/package.yaml")).toMatchObject({
      name: "counter",
      action: "created",
    })
    expect(await okJson("pkg", "apply", "-f", tallyFile)).toMatchObject({ name: "tally", action: "created" })
    expect(await okJson("pkg", "apply", "-f", tallyFile)).toMatchObject({ name: "tally", action: "unchanged" })
    expect((await okJson("pkg", "list")).items.map((p: { name: string }) => p.name).sort()).toEqual([
      "counter",
      "tally",
    ])
  }, 60_000)

  test("dep apply, then dep status --watch until Running (on a pseudo-terminal and in a pipe)", async () => {
    const applied = await okJson("dep", "apply", "-f", deploymentsFile)
    expect(applied.items.map((i: { key: string; action: string }) => [i.key, i.action])).toEqual([[
      "counter-cli",
      "created",
    ], ["tally-cli", "created"]])
    const watched = await runInPty(binary, ["dep", "status", "counter-cli", "--watch", "--timeout", "60"], {
      OPRC_PM_URL: dev.pmUrl,
      OPRC_CONFIG: cli.configFile,
    })
    expect(watched.code, watched.output).toBe(0)
    expect(watched.output).toMatch(/deployment counter-cli: Running/)
    expect(watched.output).toMatch(/local\s+Running\s+.*Counter\.fn 1\/1/)
    const piped = await run("dep", "status", "tally-cli", "--watch", "--timeout", "60")
    expect(piped.code, piped.stderr).toBe(0)
    expect(piped.stderr + piped.stdout).not.toContain("\x1b[")
    // Progress is for people: on stderr, so stdout is the JSON alone.
    expect(piped.stderr).toMatch(/^\d\d:\d\d:\d\d tally-cli (Deploying|Running) \| local: /m)
    expect(piped.json()).toMatchObject({
      key: "tally-cli",
      phase: "Running",
      clusters: [{
        cluster: "local",
        phase: "Running",
        functions: [{ function: "Tally.fn", readyReplicas: 1, desiredReplicas: 1 }],
      }],
    })
    for (const unit of UNITS) expect(pidsOfUnit(unit).length, unit).toBe(1)
  }, 90_000)

  test("obj put/get, invoke, invoke --async and result --wait", async () => {
    const asyncIncrement = (key: string) =>
      okJson("invoke", "counter.Counter", "increment", "--object", "c1", "--async", "--idempotency-key", key)
    expect((await cli.run(["obj", "put", "counter.Counter", "c1", "--set", "count=10"])).code).toBe(0)
    expect((await okJson("obj", "get", "counter.Counter", "c1")).entries).toEqual({ count: 10 })
    expect(await okJson("invoke", "counter.Counter", "increment", "--object", "c1", "--payload", "{\"by\": 5}"))
      .toEqual({ count: 15 })
    expect(await asyncIncrement("cli-job-1")).toEqual({ invocationId: "cli-job-1" })
    expect(await okJson("result", "cli-job-1", "--wait", "--timeout", "20")).toMatchObject({
      invocationId: "cli-job-1",
      state: "DONE",
      status: "OK",
      output: { count: 16 },
    })
    // The same key again is the same invocation: answered, not applied twice.
    expect(await asyncIncrement("cli-job-1")).toEqual({ invocationId: "cli-job-1" })
    expect((await okJson("obj", "get", "counter.Counter", "c1")).entries).toEqual({ count: 16 })
    const wrong = await cli.run([
      "invoke",
      "counter.Counter",
      "increment",
      "--object",
      "c1",
      "--payload",
      "{\"by\": \"x\"}",
    ])
    expect(wrong.code).toBe(1)
    expect(wrong.stderr.trim().split("\n")[0]).toMatch(/^error: /)
  }, 60_000)

  test("a trigger crosses classes: tally increments reach counter object total", async () => {
    for (let i = 1; i <= 3; i++) {
      expect(await okJson("invoke", "tally.Tally", "increment", "--object", "t1")).toEqual({ count: i })
    }
    const total = await waitFor("total reaches 3", async () => {
      const r = await run("obj", "get", "counter.Counter", "total")
      return r.code === 0 && r.json().entries.count === 3 ? r.json() : undefined
    }, { timeoutMs: 15_000, intervalMs: 200 })
    expect(total.entries).toEqual({ count: 3 })
  }, 40_000)

  test("logs shows the function replica's output", async () => {
    const logs = await cli.run(["logs", "counter.Counter", "increment", "--lines", "20"])
    expect(logs.code, logs.stderr).toBe(0)
    expect(logs.stdout).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+/)
  }, 30_000)

  test("dep delete --wait, pkg delete (the dependency last): nothing is left", async () => {
    for (const key of ["tally-cli", "counter-cli"]) {
      const r = await cli.run(["dep", "delete", key, "--wait"])
      expect({ key, code: r.code, stderr: r.stderr }).toEqual({ key, code: 0, stderr: "" })
    }
    expect((await okJson("dep", "list")).items).toEqual([])
    const early = await cli.run(["pkg", "delete", "counter"])
    expect(early.code).toBe(1)
    expect(early.stderr.trim().split("\n")[0]).toMatch(/^error: PM: .*HTTP 409\)$/)
    for (const name of ["tally", "counter"]) expect((await cli.run(["pkg", "delete", name])).code).toBe(0)
    expect((await okJson("pkg", "list")).items).toEqual([])
    await waitFor(
      "function processes gone",
      async () => (UNITS.every((u) => pidsOfUnit(u).length === 0) ? true : undefined),
      { timeoutMs: 15_000, intervalMs: 100 },
    )
    const gone = await cli.run(["invoke", "counter.Counter", "get", "--object", "c1"])
    expect(gone.code).toBe(1)
  }, 60_000)

  test("exit codes: usage 2, unreachable 3, each one line on stderr", async () => {
    const usage = await cli.run(["pkg", "apply"])
    expect(usage.code).toBe(2)
    expect(usage.stderr).toMatch(/^error: /)
    const closed = await freePort()
    const unreachable = await cli.run(["pkg", "list", "--pm-url", `http://127.0.0.1:${closed}`])
    expect(unreachable.code).toBe(3)
    expect(unreachable.stderr.trim().split("\n")).toHaveLength(1)
    expect(unreachable.stderr).toContain(`cannot reach the PM at http://127.0.0.1:${closed}`)
  }, 30_000)
})
