import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
import { create } from "@bufbuild/protobuf"
import { Effect } from "effect"
import { functionv1, healthv1 } from "@oprc/proto"
import { makeClient } from "@oprc/rpc"
import {
  ensureBinaries,
  ensurePythonModules,
  freePort,
  makeTempDir,
  type ServerProcess,
  spawnServer,
  waitForHttp,
} from "@oprc/test-harness"
import { expectConsistent } from "../../support/consistency.ts"
import { examplesDir, post, startOdgmFor } from "../../support/harness.ts"

// The Python counter (Debian python3-grpcio + python3-protobuf) behind a real ODGM: the same
// observable behaviour as the TypeScript counter, over Connect (what ODGM sends) and gRPC.
const here = join(examplesDir, "python-counter")
let python: string
let fn: ServerProcess
let fnUrl: string
let odgm: Awaited<ReturnType<typeof startOdgmFor>>

beforeAll(async () => {
  python = await ensurePythonModules()
  const port = await freePort()
  fnUrl = `http://127.0.0.1:${port}`
  fn = spawnServer({
    name: "python-counter",
    cmd: [python, join(here, "main.py")],
    ports: [port],
    env: { PORT: String(port), HOST: "127.0.0.1" },
    cwd: here,
  })
  await waitForHttp(`${fnUrl}/readyz`, (s) => s === 200, 20_000, {
    abortIf: () => (fn.alive() ? undefined : fn.logTail()),
  })
  odgm = await startOdgmFor("python-counter", fnUrl)
}, 120_000)

afterAll(async () => {
  await odgm?.stop()
  await fn?.stop(3000)
})

const objects = () => `${odgm.url}/api/class/pycounter.Counter/-/objects`

describe("python counter behind ODGM", () => {
  test("package.yaml and collections.yaml agree", () => expectConsistent("python-counter"))

  test("increment adds to the stored count, get reads it, an invocation on a new object creates it", async () => {
    const put = await fetch(`${objects()}/c1`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ entries: { count: 10 } }),
    })
    expect(put.status).toBe(201)
    expect(await post(`${objects()}/c1/invokes/increment`, { by: 5 })).toEqual({ status: 200, json: { count: 15 } })
    expect(await post(`${objects()}/c1/invokes/increment`)).toEqual({ status: 200, json: { count: 16 } })
    const stored = (await (await fetch(`${objects()}/c1`)).json()) as any
    expect(stored).toMatchObject({ version: "3", entries: { count: 16 } })
    expect(await post(`${objects()}/c1/invokes/get`)).toEqual({ status: 200, json: { count: 16 } })
    expect(((await (await fetch(`${objects()}/c1`)).json()) as any).version).toBe("3") // get writes nothing
    expect(await post(`${objects()}/c2/invokes/increment`, { by: 2.5 })).toEqual({ status: 200, json: { count: 2.5 } })
    expect(((await (await fetch(`${objects()}/c2`)).json()) as any).entries).toEqual({ count: 2.5 })
  }, 30_000)

  test("bad input is INVALID (400) with the function's reason; reset is INTERNAL (403)", async () => {
    const bad = await post(`${objects()}/c1/invokes/increment`, { by: "five" })
    expect(bad.status).toBe(400)
    expect(bad.json.error.message).toContain("\"by\" must be a number")
    const notJson = await fetch(`${objects()}/c1/invokes/increment`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{nope",
    })
    expect(notJson.status).toBe(400)
    expect((await post(`${objects()}/c1/invokes/reset`)).status).toBe(403)
    expect(((await (await fetch(`${objects()}/c1`)).json()) as any).entries.count).toBe(16)
  }, 30_000)

  test("50 concurrent increments on one object: none is lost", async () => {
    await fetch(`${objects()}/race`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ entries: { count: 0 } }),
    })
    const replies = await Promise.all(Array.from({ length: 50 }, () => post(`${objects()}/race/invokes/increment`)))
    expect(replies.every((r) => r.status === 200)).toBe(true)
    expect(replies.map((r) => r.json.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
    expect(((await (await fetch(`${objects()}/race`)).json()) as any).entries.count).toBe(50)
  }, 60_000)
})

describe("python counter over gRPC on the same port", () => {
  test("FunctionService.Invoke and grpc.health.v1 answer over HTTP/2", async () => {
    const health = makeClient(healthv1.Health, { baseUrl: fnUrl, protocol: "grpc" })
    const fns = makeClient(functionv1.FunctionService, { baseUrl: fnUrl, protocol: "grpc" })
    const check = await Effect.runPromise(health.check({}))
    expect(check.status).toBe(healthv1.HealthCheckResponse_ServingStatus.SERVING)
    const reply = await Effect.runPromise(fns.invoke(create(functionv1.InvokeRequestSchema, {
      invocationId: "grpc-1",
      cls: "pycounter.Counter",
      function: "increment",
      object: {
        id: "g1",
        partition: 0,
        version: 4n,
        exists: true,
        entries: { count: { kind: { case: "json", value: { kind: { case: "numberValue", value: 41 } } } } },
      },
      payload: new TextEncoder().encode("{\"by\": 1}"),
    })))
    expect(reply.status).toBe(functionv1.InvocationStatus.OK)
    expect(JSON.parse(new TextDecoder().decode(reply.output))).toEqual({ count: 42 })
    expect(reply.state?.set["count"]?.kind).toEqual({
      case: "json",
      value: expect.objectContaining({ kind: { case: "numberValue", value: 42 } }),
    })
    const stateless = await Effect.runPromise(fns.invoke({ cls: "pycounter.Counter", function: "get" }))
    expect(stateless.status).toBe(functionv1.InvocationStatus.INVALID)
    expect(stateless.error).toContain("needs an object")
  }, 30_000)
})

describe("generated code", () => {
  test("generate.sh reproduces the committed gen/ exactly", async () => {
    await ensureBinaries(["protoc", "grpc_python_plugin"])
    const out = makeTempDir("pycounter-gen")
    const run = Bun.spawn(["sh", join(here, "generate.sh"), out], { stdout: "pipe", stderr: "pipe" })
    expect(await run.exited, await new Response(run.stderr).text()).toBe(0)
    const files = (dir: string): Array<string> =>
      readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && e.name.endsWith(".py"))
        .map((e) => relative(dir, join(e.parentPath, e.name))).sort()
    const committed = files(join(here, "gen"))
    expect(files(out)).toEqual(committed)
    expect(committed).toContain("oprc_grpc_health/v1/health_pb2_grpc.py")
    for (const f of committed) {
      expect(readFileSync(join(out, f), "utf8"), f).toBe(readFileSync(join(here, "gen", f), "utf8"))
    }
  }, 60_000)
})
