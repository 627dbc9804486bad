import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { copyFileSync, existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import {
  diedWith,
  freePort,
  makeTempDir,
  removeTempDir,
  type ServerProcess,
  spawnServer,
  startEtcd,
  waitForHttp,
} from "@oprc/test-harness"
import { CrmTestServer } from "../../../test/crm-test-server"
import { eventually, fastOrchestration, http, shopYaml } from "./support"

// docs/pm.md's curl walkthrough, replayed block by block against the compiled binary started
// in an empty folder (so on its SQLite default), with two CRM test servers as the clusters.
const root = new URL("../../../", import.meta.url).pathname
const buildDir = makeTempDir("pm-build")
const runDir = makeTempDir("pm-run")
let crms: Array<CrmTestServer> = []
let pm: ServerProcess
let base: string

const blocks = (): Array<string> => {
  const doc = readFileSync(join(root, "docs/pm.md"), "utf8")
  const section = doc.slice(doc.indexOf("<!-- walkthrough:start -->"), doc.indexOf("<!-- walkthrough:end -->"))
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!)
}

beforeAll(async () => {
  const build = Bun.spawnSync([process.execPath, "scripts/build.ts", "--outdir", buildDir, "oprc-pm"], {
    cwd: root,
    stderr: "pipe",
    stdout: "pipe",
  })
  if (build.exitCode !== 0) throw new Error(`build failed: ${build.stderr.toString()}`)
  copyFileSync(join(buildDir, "oprc-pm"), join(runDir, "oprc-pm"))
  Bun.spawnSync(["chmod", "+x", join(runDir, "oprc-pm")])
  crms = [
    await CrmTestServer.start({ name: "edge", availability: 0.99, readyDelayMs: 200 }),
    await CrmTestServer.start({ name: "cloud", availability: 0.95, readyDelayMs: 200 }),
  ]
  const port = await freePort()
  base = `http://127.0.0.1:${port}`
  const config = join(buildDir, "pm.yaml")
  await Bun.write(
    config,
    JSON.stringify({
      clusters: crms.map((c) => ({ name: c.name, url: c.url })),
      orchestration: fastOrchestration,
      telemetry: { log: { level: "warn" } },
    }),
  )
  pm = spawnServer({
    name: "oprc-pm",
    cmd: [join(runDir, "oprc-pm"), "--config", config, "--port", String(port), "--host", "127.0.0.1"],
    cwd: runDir,
    ports: [port],
  })
  await waitForHttp(`${base}/readyz`, (s) => s === 200, 15_000, { abortIf: diedWith(pm) })
  await eventually(
    "both clusters polled",
    async () =>
      (await http(base).get("/api/v1/clusters")).body.items.every((c: { health: string }) => c.health === "Healthy")
        ? true
        : undefined,
  )
}, 60_000)

afterAll(async () => {
  await pm?.kill9()
  await Promise.all(crms.map((c) => c.close()))
  removeTempDir(buildDir)
  removeTempDir(runDir)
})

// Asynchronous on purpose: the CRM test servers live in this process and must keep answering.
const run = async (script: string) => {
  const p = Bun.spawn(["bash", "-eo", "pipefail", "-c", script], {
    cwd: root,
    env: { ...process.env, PM: base },
    stdout: "pipe",
    stderr: "pipe",
  })
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
  if (code !== 0) throw new Error(`block failed (exit ${code}):\n${script}\n--- stdout\n${out}\n--- stderr\n${err}`)
  return out
}

describe("docs/pm.md walkthrough on dist/oprc-pm in an empty folder", () => {
  test("every step runs and says what the doc says", async () => {
    const steps = blocks()
    expect(steps.length).toBe(8)
    const out: Array<string> = []
    for (const step of steps) out.push(await run(step))
    expect(out[0]).toMatch(/^created shop 1\.0\.0 at revision \d+\n/)
    expect(out[0]).toContain(
      "{\"name\":\"shop\",\"version\":\"1.0.0\",\"classes\":[\"Order\",\"Inventory\",\"Customer\"]}",
    )
    expect(out[1]).toContain("shop.Order\nshop.Inventory\nshop.Customer\n")
    expect(out[1]).toContain("shop.Order.create ghcr.io/acme/shop-order:1.0.0")
    expect(out[1]).toContain("shop.Order.quote http://quotes.internal:9000")
    expect(out[2]).toBe(
      "edge Healthy breaker=closed availability=0.99\ncloud Healthy breaker=closed availability=0.95\n",
    )
    expect(out[3]).toMatch(
      /^\{"key":"shop-orders","placedClusters":\["edge","cloud"\],"phase":"(Deploying|Running)"\}\n$/,
    )
    expect(out[4]).toBe(
      "Running: running on edge, cloud (generation 1)\n  edge Running generation 1\n  cloud Running generation 1\n",
    )
    expect(out[5]).toBe("1.0.0\nDEPLOYMENT_PHASE_RUNNING\n")
    expect(JSON.parse(out[6]!)).toEqual({
      code: "invalid_argument",
      message: "classKey: class \"Nope\" is not defined in package \"shop\"",
      violations: [{ path: "classKey", message: "class \"Nope\" is not defined in package \"shop\"" }],
    })
    expect(out[7]).toMatch(/^Deleting\n(.|\n)*after delete: HTTP 404\n$/)
    expect(crms.every((c) => c.units.size === 0)).toBe(true)
    expect(crms.map((c) => c.appliedChanges(`shop-orders-${c.name}`).length)).toEqual([1, 1])
  }, 60_000)

  test("the binary ran on its SQLite default: ./oprc-data/pm.sqlite in the folder it was started in", () => {
    expect(readdirSync(runDir).sort()).toEqual(["oprc-data", "oprc-pm"])
    expect(existsSync(join(runDir, "oprc-data", "pm.sqlite"))).toBe(true)
  })

  test("the same binary runs on etcd with --storage etcd --etcd-endpoints", async () => {
    const etcd = await startEtcd()
    const port = await freePort()
    const dir = makeTempDir("pm-run-etcd")
    copyFileSync(join(buildDir, "oprc-pm"), join(dir, "oprc-pm"))
    Bun.spawnSync(["chmod", "+x", join(dir, "oprc-pm")])
    const proc = spawnServer({
      name: "oprc-pm-etcd",
      cmd: [
        join(dir, "oprc-pm"),
        "--storage",
        "etcd",
        "--etcd-endpoints",
        etcd.endpoints.join(","),
        "--port",
        String(port),
        "--host",
        "127.0.0.1",
      ],
      cwd: dir,
      ports: [port],
    })
    try {
      const api = http(`http://127.0.0.1:${port}`)
      await waitForHttp(`http://127.0.0.1:${port}/readyz`, (s) => s === 200, 15_000, { abortIf: diedWith(proc) })
      expect((await api.get("/readyz")).body.checks).toEqual([{ name: "storage (etcd)", ok: true }])
      expect((await api.post("/api/v1/packages", await shopYaml(), "application/yaml")).status).toBe(201)
      expect((await api.get("/api/v1/packages/shop")).body.version).toBe("1.0.0")
      expect(readdirSync(dir)).toEqual(["oprc-pm"])
    } finally {
      await proc.kill9()
      await etcd.kill()
      removeTempDir(dir)
    }
  }, 30_000)
})
