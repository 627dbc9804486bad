import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { existsSync } from "node:fs"
import { join } from "node:path"
import {
  type DevPlatform,
  ensurePythonModules,
  freePorts,
  isPidAlive,
  makeTempDir,
  type PrometheusServer,
  startOprcDev,
  startPrometheus,
} from "../../../test/harness/index.ts"
import { buildCli, type Cli, cliRunner, repoRoot } from "./support"

// `oprc dev --apply` from the compiled binary: PM, CRM (process driver) and ODGM in one process,
// the TypeScript and the Python counter started by the CRM as real processes, Ctrl-C stops all.
let binary: string
let dev: DevPlatform
let cli: Cli
let ports: [number, number, number]
let prometheus: PrometheusServer
const dataDir = makeTempDir("oprc-dev-data")

const childrenOf = (pid: number): Array<number> => {
  const r = Bun.spawnSync(["pgrep", "-P", String(pid)])
  return r.stdout.toString().split("\n").filter((l) => l !== "").map(Number)
}

beforeAll(async () => {
  await ensurePythonModules()
  binary = await buildCli()
  ports = (await freePorts(3)) as [number, number, number]
  // A real Prometheus scraping the function replicas the CRM lists, so the NFR analyzer reports numbers.
  prometheus = await startPrometheus({
    targets: [],
    scrapeIntervalMs: 1000,
    httpSd: { url: `http://127.0.0.1:${ports[2]}/api/v1/sd/targets`, refreshIntervalMs: 1000 },
  })
  dev = startOprcDev(binary, {
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
      "--apply",
      "examples/counter/package.yaml",
      "examples/python-counter/package.yaml",
    ],
  })
  cli = cliRunner(binary, { OPRC_PM_URL: dev.pmUrl, OPRC_ODGM_URL: dev.odgmUrl, OPRC_CRM_URL: dev.crmUrl })
  await dev.waitForOutput(/^try it:\n.*\n.*\n/m, 120_000)
}, 240_000)

afterAll(async () => {
  await prometheus?.stop()
  if (dev !== undefined && dev.exitCode() === null) {
    // Only when a test failed before Ctrl-C: its function processes would outlive a SIGKILL.
    const children = childrenOf(dev.pid)
    dev.kill("SIGKILL")
    await dev.exited
    for (const pid of children) {
      try {
        process.kill(pid, "SIGKILL")
      } catch {}
    }
  }
})

describe("oprc dev --apply", () => {
  test("prints the URLs, applies both packages, both deployments reach Running, prints a curl and an oprc line", () => {
    const [pmPort, odgmPort, crmPort] = ports
    const output = dev.output()
    expect(output).toContain(
      `oprc dev: PM http://127.0.0.1:${pmPort}  ODGM http://127.0.0.1:${odgmPort}  CRM http://127.0.0.1:${crmPort}  (data in ${dataDir}`,
    )
    for (
      const line of [
        "package counter created",
        "deployment counter-dev created",
        "package pycounter created",
        "deployment pycounter-dev created",
      ]
    ) expect(output).toContain(`oprc dev: ${line}`)
    expect(output).toMatch(/oprc dev: deployment counter-dev Running/)
    expect(output).toMatch(/oprc dev: deployment pycounter-dev Running/)
    expect(output).toContain(
      `curl -s -X POST http://127.0.0.1:${odgmPort}/api/class/counter.Counter/-/objects/demo-1/invokes/increment`,
    )
    expect(output).toContain(
      ` invoke counter.Counter increment --object demo-1 --odgm-url http://127.0.0.1:${odgmPort}`,
    )
    for (const f of ["pm.sqlite", "odgm.sqlite", "crm.sqlite", "crm-logs"]) {
      expect(existsSync(join(dataDir, f)), f).toBe(true)
    }
  })

  test("the printed lines work: curl-style POST, then the oprc invoke line as printed", async () => {
    const output = dev.output()
    const tryLines = output.slice(output.indexOf("try it:")).split("\n").slice(1, 3).map((l) => l.trim())
    const curl = Bun.spawn(["sh", "-c", tryLines[0]!], { stdout: "pipe" })
    expect(JSON.parse(await new Response(curl.stdout).text())).toEqual({ count: 1 })
    const args = tryLines[1]!.split(" ").slice(1) // the line starts with the binary's path
    const invoked = await cli.run(args)
    expect(invoked.code).toBe(0)
    expect(JSON.parse(invoked.stdout)).toEqual({ count: 2 })
  }, 60_000)

  test(
    "the Python counter runs under the process driver: invoke, status with replicas, logs and logs --follow",
    async () => {
      const first = await cli.run([
        "invoke",
        "pycounter.Counter",
        "increment",
        "--object",
        "py-1",
        "--payload",
        "{\"by\": 2}",
        "-o",
        "json",
      ])
      expect(first.code).toBe(0)
      expect(first.json()).toEqual({ count: 2 })
      const status = (await cli.run(["dep", "status", "pycounter-dev", "-o", "json"])).json()
      expect(status).toMatchObject({
        phase: "Running",
        clusters: [{
          cluster: "local",
          phase: "Running",
          functions: [{ function: "Counter.py", readyReplicas: 1, desiredReplicas: 1 }],
        }],
      })

      const logs = await cli.run(["logs", "pycounter.Counter", "increment"])
      expect(logs.code).toBe(0)
      expect(logs.stdout).toMatch(/^python counter listening on 127\.0\.0\.1:\d+ \(gRPC and Connect\)$/m)
      expect(logs.stdout).toContain("increment py-1 -> {\"count\": 2}")

      const follow = Bun.spawn([
        binary,
        "logs",
        "pycounter.Counter",
        "increment",
        "--follow",
        "--stream",
        "stdout",
        "--lines",
        "1",
      ], {
        env: { ...process.env, OPRC_CONFIG: cli.configFile, OPRC_PM_URL: `http://127.0.0.1:${ports[0]}` },
        stdout: "pipe",
      })
      let followed = ""
      void (async () => {
        for await (const chunk of follow.stdout as ReadableStream<Uint8Array>) {
          followed += new TextDecoder().decode(
            chunk,
          )
        }
      })()
      try {
        for (let i = 0; i < 100 && !followed.includes("increment py-1 -> {\"count\": 2}"); i++) await Bun.sleep(100)
        expect((await cli.run(["invoke", "pycounter.Counter", "increment", "--object", "py-1"])).code).toBe(0)
        for (let i = 0; i < 150 && !followed.includes("increment py-1 -> {\"count\": 3}"); i++) await Bun.sleep(100)
        expect(followed).toContain("increment py-1 -> {\"count\": 3}")
        expect(followed.match(/count": 2/g)?.length).toBe(1) // the earlier line is not printed again
      } finally {
        follow.kill("SIGINT")
      }
      expect(await follow.exited).toBe(130) // Ctrl-C ends --follow with 130
    },
    90_000,
  )

  test("dep status shows the NFR analyzer's numbers once Prometheus has measured the load", async () => {
    let stop = false
    const load = (async () => {
      while (!stop) {
        await fetch(`${dev.odgmUrl}/api/class/counter.Counter/-/objects/nfr-1/invokes/increment`, { method: "POST" })
          .then((r) => r.text())
      }
    })()
    try {
      let status: any
      for (let i = 0; i < 80; i++) {
        status = (await cli.run(["dep", "status", "counter-dev", "-o", "json"])).json()
        if ((status.clusters[0]?.nfr?.observedRps ?? 0) > 0) break
        await Bun.sleep(500)
      }
      expect(status.clusters[0].nfr.observedRps).toBeGreaterThan(0)
      expect(status.clusters[0].nfr.observedP99Ms).toBeGreaterThan(0)
      expect(status.clusters[0].nfr.recommendedReplicas).toBeGreaterThanOrEqual(1)
      const table = (await cli.run(["dep", "status", "counter-dev"])).stdout
      expect(table).toMatch(/^CLUSTER\s+PHASE\s+REASON\s+GENERATION\s+CONDITIONS\s+REPLICAS\s+NFR$/m)
      expect(table).toMatch(/^local\s+Running\s.*Counter\.fn 1\/1\s+[\d.]+ rps, p99 [\d.]+ ms, recommends \d+$/m)
    } finally {
      stop = true
      await load
    }
  }, 90_000)

  test("docs/cli.md's walkthrough runs as written (oprc on PATH, this platform in the environment)", async () => {
    const doc = await Bun.file(join(repoRoot, "docs/cli.md")).text()
    const block = doc.slice(doc.indexOf("<!-- walkthrough:start -->"), doc.indexOf("<!-- walkthrough:end -->"))
    const commands = block.split("\n").filter((l) => l.startsWith("oprc "))
    expect(commands.length).toBeGreaterThanOrEqual(8)
    const bin = makeTempDir("oprc-path")
    await Bun.write(join(bin, "oprc"), `#!/bin/sh\nexec '${binary}' "$@"\n`)
    Bun.spawnSync(["chmod", "+x", join(bin, "oprc")])
    const outputs: Array<string> = []
    for (const command of commands) {
      const proc = Bun.spawn(["sh", "-c", command], {
        cwd: repoRoot,
        env: {
          ...process.env,
          PATH: `${bin}:${process.env.PATH}`,
          OPRC_CONFIG: cli.configFile,
          HOME: cli.home,
          OPRC_PM_URL: `http://127.0.0.1:${ports[0]}`,
          OPRC_ODGM_URL: `http://127.0.0.1:${ports[1]}`,
          OPRC_CRM_URL: `http://127.0.0.1:${ports[2]}`,
        },
        stdout: "pipe",
        stderr: "pipe",
      })
      const [out, err, code] = await Promise.all([
        new Response(proc.stdout).text(),
        new Response(proc.stderr).text(),
        proc.exited,
      ])
      expect({ command, code, err: code === 0 ? "" : err }).toEqual({ command, code: 0, err: "" })
      outputs.push(out)
    }
    expect(outputs[4]).toContain("\"count\": 15")
    expect(JSON.parse(outputs[5]!)).toMatchObject({ id: "walk-1", entries: { count: 15 } })
    expect(outputs[7]!.trim()).toBe("OK {\"count\":15}")
  }, 120_000)

  test("a missing --apply file is a usage error before anything starts", async () => {
    const r = await cli.run(["dev", "--apply", "examples/no-such/package.yaml"])
    expect(r.code).toBe(2)
    expect(r.stderr.trim()).toBe("error: --apply examples/no-such/package.yaml: no such file")
  }, 30_000)

  test("Ctrl-C stops the platform and every function process", async () => {
    const children = childrenOf(dev.pid)
    expect(children.length).toBeGreaterThanOrEqual(2) // the TypeScript and the Python counter
    dev.kill("SIGINT")
    const code = await Promise.race([dev.exited, Bun.sleep(15_000).then(() => "timeout")])
    expect(code).toBe(0)
    for (let i = 0; i < 50 && children.some(isPidAlive); i++) await Bun.sleep(100)
    expect(children.filter(isPidAlive)).toEqual([])
  }, 30_000)
})
