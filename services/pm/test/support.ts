import { Layer, ManagedRuntime, References, Schema } from "effect"
import { PackageLimits } from "@oprc/models"
import { Health } from "@oprc/observability"
import { startServer } from "@oprc/rpc"
import { PmApp, PmServices } from "../src/PmApp"
import { PmConfig } from "../src/config"
import { CrmTestServer, type CrmTestServerOptions } from "../../../test/crm-test-server"

/** Timings that make a test's reconcile loop, health polls and breakers fast. */
export const fastOrchestration = {
  resyncMs: 500,
  healthIntervalMs: 200,
  crmTimeoutMs: 500,
  breakerFailures: 2,
  breakerResetMs: 400,
  workers: 4,
  dispatchWaitMs: 1500,
}

export type PmInput = typeof PmConfig.Encoded

/** Starts the whole PM in this process on a free port (real server, real network). */
export const startPm = async (input: Partial<PmInput> = {}) => {
  const decoded = Schema.decodeUnknownSync(PmConfig)({
    server: { host: "127.0.0.1", port: 8080, bodyLimitBytes: 256 * 1024, shutdownGraceMs: 200 },
    storage: { kind: "memory" },
    orchestration: fastOrchestration,
    ...input,
  })
  // Config requires a real port; 0 lets the OS pick a free one for this test.
  const config: PmConfig = { ...decoded, server: { ...decoded.server, port: 0 } }
  const quiet = Layer.succeed(References.MinimumLogLevel, process.env.PM_TEST_LOGS ? "Debug" : "Error")
  return startServer(PmApp(config).pipe(Layer.provide(quiet)))
}

export const startCrms = (names: ReadonlyArray<string>, options: Partial<CrmTestServerOptions> = {}) =>
  Promise.all(names.map((name) => CrmTestServer.start({ readyDelayMs: 100, ...options, name })))

export const clustersOf = (crms: ReadonlyArray<CrmTestServer>) => crms.map((c) => ({ name: c.name, url: c.url }))

export const shopYaml = () => Bun.file(new URL("../../../examples/shop/package.yaml", import.meta.url)).text()

/** The harness's REST client and poller, under the names the PM tests use. */
export { eventually, restClient as http } from "@oprc/test-harness"

/** A Connect unary call with JSON (what curl would send). */
export const connectJson = async (
  base: string,
  procedure: string,
  body: object,
  headers: Record<string, string> = {},
) => {
  const res = await fetch(`${base}/${procedure}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  })
  const answer: any = await res.json()
  return { status: res.status, body: answer }
}

/** Waits until the deployment's overall phase is `phase` (REST long poll), returning it. */
export const waitForPhase = async (base: string, key: string, phase: string, timeoutMs = 10_000) => {
  const r = await fetch(`${base}/api/v1/deployments/${key}?waitFor=${phase}&timeoutMs=${timeoutMs}`)
  const body: any = await r.json()
  if (body?.status?.phase !== phase) {
    throw new Error(`${key} did not reach ${phase}: ${JSON.stringify(body?.status ?? body)}`)
  }
  return body
}

/** Writes a PM config file (YAML is JSON) into `dir` and returns its path. */
export const writeConfig = async (dir: string, config: Record<string, unknown>) => {
  const path = `${dir}/pm.json`
  await Bun.write(path, JSON.stringify(config, null, 2))
  return path
}

const pmMain = new URL("../src/main.ts", import.meta.url).pathname

/** The PM as a real process (`bun services/pm/src/main.ts ...`), ready when /readyz says so. */
export const spawnPm = async (
  opts: {
    readonly dir: string
    readonly port: number
    readonly args: ReadonlyArray<string>
    readonly env?: Record<string, string>
  },
) => {
  const { spawnServer, waitForHttp, diedWith } = await import("@oprc/test-harness")
  const proc = spawnServer({
    name: "oprc-pm",
    cmd: [process.execPath, pmMain, "--port", String(opts.port), "--host", "127.0.0.1", ...opts.args],
    ports: [opts.port],
    cwd: opts.dir,
    ...(opts.env === undefined ? {} : { env: opts.env }),
  })
  try {
    await waitForHttp(`http://127.0.0.1:${opts.port}/readyz`, (s) => s === 200, 20_000, { abortIf: diedWith(proc) })
  } catch (e) {
    console.error(proc.logTail(40))
    await proc.kill9()
    throw e
  }
  return proc
}

/** The PM's services on the memory store, without a server: for handler tests over `inMemoryTransport`. */
export const inMemoryPmRuntime = () => {
  const config = Schema.decodeUnknownSync(PmConfig)({ storage: { kind: "memory" }, orchestration: fastOrchestration })
  return ManagedRuntime.make(
    PmServices(config).pipe(
      Layer.provideMerge(Layer.succeed(PackageLimits, config.limits)),
      Layer.provideMerge(Health.layer),
      Layer.provideMerge(Layer.succeed(References.MinimumLogLevel, "Error")),
    ),
  )
}
