import { join } from "node:path"
import { Layer, References, Schema } from "effect"
import { OdgmApp, OdgmConfig } from "@oprc/odgm"
import { PmApp, PmConfig } from "@oprc/pm"
import { startServer } from "@oprc/rpc"
import { CrmTestServer } from "../../../test/crm-test-server"
import {
  binaryDir,
  type Cli,
  cliRunner as harnessCliRunner,
  freePort,
  type ServerProcess,
  spawnServer,
  waitForHttp,
} from "../../../test/harness/index.ts"

/** Real servers for the CLI tests (PM, test CRMs, ODGM, the counter function) and the compiled CLI. */

export const repoRoot = join(import.meta.dir, "../../..")
const bun = process.execPath

/** The compiled CLI: dist/oprc when `npm run build` is fresh, else one build per test run shared with test/e2e (test/harness/binaries.ts). */
export const buildCli = async (): Promise<string> => join(await binaryDir(), "oprc")

export { type Cli, runInPty } from "../../../test/harness/index.ts"

/** The compiled CLI run from the repository root (relative `-f` paths), see test/harness/cli.ts. */
export const cliRunner = (binary: string, baseEnv: Record<string, string>): Cli =>
  harnessCliRunner(binary, baseEnv, repoRoot)

const quiet = Layer.succeed(References.MinimumLogLevel, "Error")

export interface Stack {
  readonly pmUrl: string
  readonly odgmUrl: string
  readonly crms: ReadonlyArray<CrmTestServer>
  readonly fnUrl: string
  stop(): Promise<void>
}

/** A PM alone (memory store), with any extra config (TLS, auth), on a free port. */
export const startPmWith = async (extra: Record<string, unknown>) => {
  const config = Schema.decodeUnknownSync(PmConfig)({
    server: { host: "127.0.0.1", port: 8080, shutdownGraceMs: 200 },
    storage: { kind: "memory" },
    ...extra,
  })
  return startServer(PmApp({ ...config, server: { ...config.server, port: 0 } }).pipe(Layer.provide(quiet)))
}

/** PM (memory) with two test CRMs as clusters, ODGM (memory) with the counter and greeter classes served by their real functions. */
export const startStack = async (opts: { readonly readyDelayMs?: number } = {}): Promise<Stack> => {
  const crms = await Promise.all(
    ["edge", "cloud"].map((name, i) =>
      CrmTestServer.start({ name, availability: i === 0 ? 0.99 : 0.95, readyDelayMs: opts.readyDelayMs ?? 6000 })
    ),
  )
  const pmConfig = Schema.decodeUnknownSync(PmConfig)({
    server: { host: "127.0.0.1", port: 8080, shutdownGraceMs: 200 },
    storage: { kind: "memory" },
    clusters: crms.map((c) => ({ name: c.name, url: c.url })),
    orchestration: {
      resyncMs: 500,
      healthIntervalMs: 200,
      crmTimeoutMs: 1000,
      breakerFailures: 2,
      breakerResetMs: 400,
      workers: 4,
      dispatchWaitMs: 1500,
    },
  })
  const pm = await startServer(
    PmApp({ ...pmConfig, server: { ...pmConfig.server, port: 0 } }).pipe(Layer.provide(quiet)),
  )

  const startFunction = async (example: string) => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const proc: ServerProcess = spawnServer({
      name: `${example}-fn`,
      cmd: [bun, join(repoRoot, `examples/${example}/src/main.ts`)],
      ports: [port],
      env: { PORT: String(port), HOST: "127.0.0.1" },
      cwd: repoRoot,
    })
    await waitForHttp(`${url}/healthz`, (s) => s === 200, 20_000, {
      abortIf: () => (proc.alive() ? undefined : proc.logTail()),
    })
    return { url, proc }
  }
  const [counter, greeter] = await Promise.all([startFunction("counter"), startFunction("greeter")])
  const fnUrl = counter.url

  const odgmConfig = Schema.decodeUnknownSync(OdgmConfig)({
    server: { host: "127.0.0.1" },
    storage: { kind: "memory" },
    // One attempt: a failing trigger becomes a dead letter at once (the dead-letter commands need one).
    triggers: { pollIntervalMs: 50, maxAttempts: 1 },
    telemetry: { log: { level: "error" } },
  })
  const odgm = await startServer(OdgmApp({ ...odgmConfig, server: { ...odgmConfig.server, port: 0 } }))
  const collections = [
    {
      name: "counter.Counter",
      partitionCount: 4,
      functions: { increment: { url: fnUrl }, get: { url: fnUrl }, reset: { url: fnUrl, access: "INTERNAL" } },
    },
    {
      name: "greeter.Greeter",
      functions: { hello: { url: greeter.url, stateless: true }, wordCount: { url: greeter.url, stateless: true } },
    },
  ]
  for (const c of collections) {
    const put = await fetch(`${odgm.url}/api/collections/${c.name}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(c),
    })
    if (put.status !== 200) throw new Error(`collection ${c.name}: ${put.status} ${await put.text()}`)
  }

  return {
    pmUrl: pm.url,
    odgmUrl: odgm.url,
    crms,
    fnUrl,
    async stop() {
      await Promise.allSettled([
        pm.stop(),
        odgm.stop(),
        counter.proc.stop(3000),
        greeter.proc.stop(3000),
        ...crms.map((c) => c.close()),
      ])
    },
  }
}
