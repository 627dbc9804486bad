import { join } from "node:path"
import { Schema } from "effect"
import { freePort, type ServerProcess, spawnServer, waitForHttp } from "@oprc/test-harness"
import { startServer } from "@oprc/rpc"
import { OdgmConfig } from "../../src/config.ts"
import { OdgmApp } from "../../src/OdgmApp.ts"

/** Real processes and an in-process ODGM for the tests (no fakes: functions are real servers). */

export const repoRoot = join(import.meta.dir, "../../../..")
const bun = process.execPath
export const probeEntry = join(import.meta.dir, "probe.ts")
export const systemErrorEntry = join(import.meta.dir, "system-error.ts")
const odgmEntry = join(repoRoot, "services/odgm/src/main.ts")

export interface FunctionProcess {
  readonly url: string
  readonly port: number
  proc: ServerProcess
  /** Start it again on the same port (after a kill). */
  restart(): Promise<void>
  stop(): Promise<void>
}

export const startFunction = async (
  entry: string,
  opts: { port?: number; env?: Record<string, string> } = {},
): Promise<FunctionProcess> => {
  const port = opts.port ?? (await freePort())
  const url = `http://127.0.0.1:${port}`
  const spawn = async () => {
    const proc = spawnServer({
      name: `fn-${port}`,
      cmd: [bun, entry],
      ports: [port],
      env: { PORT: String(port), HOST: "127.0.0.1", ...opts.env },
      cwd: repoRoot,
    })
    await waitForHttp(`${url}/healthz`, (s) => s === 200, 20_000, {
      abortIf: () => (proc.alive() ? undefined : `function exited: ${proc.logTail()}`),
    })
    return proc
  }
  const fp: FunctionProcess = {
    url,
    port,
    proc: await spawn(),
    async restart() {
      fp.proc = await spawn()
    },
    stop: () => fp.proc.stop(3000),
  }
  return fp
}

export type ConfigInput = Record<string, unknown>

const merge = (a: ConfigInput, b: ConfigInput): ConfigInput => {
  const out: ConfigInput = { ...a }
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k]
    out[k] = prev && typeof prev === "object" && !Array.isArray(prev) && v && typeof v === "object" && !Array.isArray(v)
      ? merge(prev as ConfigInput, v as ConfigInput)
      : v
  }
  return out
}

const quietTelemetry = { telemetry: { log: { level: "error" } } }

/** ODGM in this process (memory store unless told otherwise), on a free port. */
export const startOdgm = async (overrides: ConfigInput = {}) => {
  const config = Schema.decodeUnknownSync(OdgmConfig)(
    merge({
      server: { host: "127.0.0.1" },
      storage: { kind: "memory" },
      triggers: { pollIntervalMs: 50 },
      ...quietTelemetry,
    }, overrides),
  )
  // Port 0 (any free port) is for tests only; the config schema rightly refuses it.
  return startServer(OdgmApp({ ...config, server: { ...config.server, port: 0 } }))
}

/** ODGM as a real process (`bun services/odgm/src/main.ts ...args`), for kill and restart tests. */
export const spawnOdgm = async (
  args: ReadonlyArray<string>,
  opts: { port?: number; env?: Record<string, string>; name?: string } = {},
) => spawnBinary([bun, odgmEntry], opts.port ?? (await freePort()), args, opts)

/** Flags for ODGM on SQLite at `path` with the collections of a file. */
export const sqliteArgs = (path: string, collectionsFile: string) => [
  "--storage",
  "sqlite",
  "--sqlite",
  path,
  "--collections",
  collectionsFile,
]

/** Flags for ODGM on a NATS cluster, R3 (every test cluster has three servers). */
export const natsR3Args = (urls: ReadonlyArray<string>) => [
  "--storage",
  "nats",
  "--nats",
  urls.join(","),
  "--nats-replicas",
  "3",
]

/** A collection of the probe's functions at `url`. */
export const probeCollection = (name: string, url: string, extra: Record<string, unknown> = {}) => ({
  name,
  partitionCount: 4,
  functions: {
    echo: { url },
    set: { url },
    increment: { url },
    get: { url },
    record: { url },
    gate: { url },
    remove: { url },
    fail: { url },
    invalid: { url },
    sleep: { url },
    hello: { url, stateless: true },
    noop: { url, stateless: true },
    ...((extra.functions as Record<string, unknown> | undefined) ?? {}),
  },
  ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== "functions")),
})

/** The harness's REST client and poller. */
export { eventually, restClient as rest } from "@oprc/test-harness"

/** The compiled binary (or a `[bun, entry]` command) as a process, on `port` (fixed across restarts of one node). */
export const spawnBinary = async (
  bin: string | ReadonlyArray<string>,
  port: number,
  args: ReadonlyArray<string>,
  opts: { env?: Record<string, string>; name?: string } = {},
) => {
  const url = `http://127.0.0.1:${port}`
  const proc = spawnServer({
    name: opts.name ?? `odgm-${port}`,
    cmd: [...(typeof bin === "string" ? [bin] : bin), "--host", "127.0.0.1", "--port", String(port), ...args],
    ports: [port],
    env: { OPRC_TELEMETRY_LOG_LEVEL: "warn", ...opts.env },
    cwd: repoRoot,
  })
  await waitForHttp(`${url}/readyz`, (s) => s === 200, 30_000, {
    abortIf: () => (proc.alive() ? undefined : `odgm exited: ${proc.logTail()}`),
  })
  return { url, port, proc }
}
