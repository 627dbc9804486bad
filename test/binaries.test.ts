import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { copyFileSync, readdirSync } from "node:fs"
import { join } from "node:path"
import * as grpc from "@grpc/grpc-js"
import * as protoLoader from "@grpc/proto-loader"
import {
  diedWith,
  freePort,
  makeTempDir,
  type OtlpReceiver,
  type ServerProcess,
  spawnServer,
  startOtlpReceiver,
  waitForHttp,
} from "./harness/index.ts"

// The foundation's acceptance: a compiled binary, copied ALONE into an empty folder, serves
// every protocol on one port, counts calls in /metrics, exports spans, and drains on SIGTERM.
const root = new URL("..", import.meta.url).pathname
const buildDir = makeTempDir("oprc-build")
const runDir = makeTempDir("oprc-run")
let otlp: OtlpReceiver
let pm: ServerProcess
let port: number

beforeAll(async () => {
  const build = Bun.spawnSync([process.execPath, "scripts/build.ts", "--outdir", buildDir, "oprc-pm"], {
    cwd: root,
    stderr: "pipe",
    stdout: "pipe",
  })
  if (build.exitCode !== 0) throw new Error(`build failed: ${build.stderr.toString()}`)
  copyFileSync(join(buildDir, "oprc-pm"), join(runDir, "oprc-pm"))
  Bun.spawnSync(["chmod", "+x", join(runDir, "oprc-pm")])
  otlp = startOtlpReceiver()
  port = await freePort()
  pm = spawnServer({
    name: "oprc-pm",
    cmd: [join(runDir, "oprc-pm"), "--port", String(port), "--host", "127.0.0.1"],
    cwd: runDir,
    ports: [port],
    env: { OPRC_TELEMETRY_OTLP_ENDPOINT: otlp.url },
  })
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, (status) => status === 200, 10_000, { abortIf: diedWith(pm) })
}, 120_000)

afterAll(async () => {
  await pm?.stop()
  await otlp?.stop()
})

const check = (headers: Record<string, string> = {}) =>
  fetch(`http://127.0.0.1:${port}/grpc.health.v1.Health/Check`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: "{}",
  })

describe("dist/oprc-pm copied alone into an empty folder", () => {
  test("the folder holds only the binary (plus the PM's own data) and --version answers", () => {
    expect(readdirSync(runDir)).toContain("oprc-pm")
    const v = Bun.spawnSync([join(runDir, "oprc-pm"), "--version"], { cwd: runDir })
    expect(v.stdout.toString()).toMatch(/^oprc-pm \d+\.\d+\.\d+/)
  })

  test("curl-style JSON to /grpc.health.v1.Health/Check answers SERVING", async () => {
    const res = await check()
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ status: "SERVING" })
  })

  test("a @grpc/grpc-js client over h2c gets SERVING on the same port", async () => {
    const def = protoLoader.loadSync("grpc/health/v1/health.proto", {
      includeDirs: [join(root, "proto")],
      enums: String,
    })
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      grpc: {
        health: { v1: { Health: new(a: string, c: grpc.ChannelCredentials) => grpc.Client & { check: Function } } }
      }
    }
    const client = new pkg.grpc.health.v1.Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure())
    const reply = await new Promise<{ status: string }>((resolve, reject) =>
      client.check({ service: "" }, (err: Error | null, r: { status: string }) => (err ? reject(err) : resolve(r)))
    )
    client.close()
    expect(reply.status).toBe("SERVING")
  })

  test("/metrics counts those calls", async () => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    const line = text.split("\n").find((l) =>
      l.startsWith("oprc_rpc_requests_total{service=\"grpc.health.v1.Health\",method=\"Check\",code=\"ok\"}")
    )
    expect(line).toBeDefined()
    expect(Number(line!.split(" ").pop())).toBeGreaterThanOrEqual(2)
  })

  test("the call's server span reaches the OTLP receiver and continues the caller's W3C trace", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
    const parentId = "00f067aa0ba902b7"
    await check({ traceparent: `00-${traceId}-${parentId}-01` })
    const span = await otlp.waitForSpan(
      (s) => s.name === "rpc grpc.health.v1.Health/Check" && s.traceId === traceId,
      10_000,
    )
    expect(span.parentSpanId).toBe(parentId)
    expect(span.resource["service.name"]).toBe("oprc-pm")
  })

  test("SIGTERM drains and the process exits 0 within 2 s", async () => {
    const started = performance.now()
    process.kill(pm.pid, "SIGTERM")
    const code = await pm.exited
    expect(performance.now() - started).toBeLessThan(2000)
    expect(code).toBe(0)
  })
})
