import { afterAll, beforeAll } from "bun:test"
import { writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { Effect, Layer, References, Schema } from "effect"
import { decodeDeploymentUnit, type DeploymentUnit, type DeploymentUnitInput } from "@oprc/models"
import { OdgmApp, OdgmConfig } from "@oprc/odgm"
import { crmv1 } from "@oprc/proto"
import { makeClient, startServer } from "@oprc/rpc"
import {
  diedWith,
  eventually as pollUntil,
  makeTempDir,
  removeTempDir,
  type ServerProcess,
  spawnServer,
  waitForHttp,
} from "@oprc/test-harness"
import { CrmApp } from "../src/CrmApp"
import { CrmConfig } from "../src/config"

export const repoRoot = resolve(import.meta.dir, "../../..")
/** The bun running this test: function commands use it, so no PATH lookup is involved. */
export const bun = process.execPath

const quiet = Layer.succeed(References.MinimumLogLevel, process.env.CRM_TEST_LOGS ? "Debug" : "Error")

/** ODGM in this process (memory store) on a free port: the real CollectionService and gateway. */
export const startOdgm = async () => {
  const decoded = Schema.decodeUnknownSync(OdgmConfig)({
    server: { host: "127.0.0.1", port: 8081, shutdownGraceMs: 200 },
    storage: { kind: "memory" },
    collections: { refreshMs: 200 },
  })
  return startServer(OdgmApp({ ...decoded, server: { ...decoded.server, port: 0 } }).pipe(Layer.provide(quiet)))
}

export type CrmInput = typeof CrmConfig.Encoded

/** The CRM in this process on a free port, with fast timings; function processes are real. */
export const startCrm = async (odgmUrl: string, dataDir: string, input: Partial<CrmInput> = {}) => {
  const decoded = Schema.decodeUnknownSync(CrmConfig)({
    server: { host: "127.0.0.1", port: 8088, shutdownGraceMs: 200 },
    storage: { kind: "sqlite", sqlite: { path: `${dataDir}/crm.sqlite` } },
    odgm: { url: odgmUrl },
    reconcile: { resyncMs: 2000 },
    ...input,
    // A failing test must not leave function processes behind on a shared machine: stop them with the CRM.
    driver: {
      process: {
        workDir: repoRoot,
        logDir: `${dataDir}/logs`,
        stopGraceMs: 1000,
        restartBaseMs: 100,
        stopOnExit: true,
        ...(input.driver?.process ?? {}),
      },
    },
  })
  return startServer(CrmApp({ ...decoded, server: { ...decoded.server, port: 0 } }).pipe(Layer.provide(quiet)))
}

export const runtimeClient = (url: string) => makeClient(crmv1.RuntimeService, { baseUrl: url, timeoutMs: 20_000 })

export const run = <A, E>(e: Effect.Effect<A, E>) => Effect.runPromise(e)

/** A unit's status as the RuntimeService reports it. */
export const unitStatus = async (client: ReturnType<typeof runtimeClient>, unitId: string) =>
  (await run(client.getDeploymentUnit({ unitId }))).status!

export const conditionOf = (s: crmv1.DeploymentUnitStatus, type: string) => s.conditions.find((c) => c.type === type)

/**
 * ODGM and a CRM (process driver, fast timings) in this process, shared by the tests of one file:
 * started before them with a fresh temp dir named after `name`, stopped after them.
 */
export const crmForFile = (name: string) => {
  const world = {} as {
    odgm: Awaited<ReturnType<typeof startOdgm>>
    crm: Awaited<ReturnType<typeof startCrm>>
    dir: string
    client: ReturnType<typeof runtimeClient>
  }
  beforeAll(async () => {
    world.dir = makeTempDir(name)
    world.odgm = await startOdgm()
    world.crm = await startCrm(world.odgm.url, world.dir)
    world.client = runtimeClient(world.crm.url)
  })
  afterAll(async () => {
    await world.crm?.stop()
    await world.odgm?.stop()
    if (world.dir !== undefined) removeTempDir(world.dir)
  })
  return world
}

/** The counter example as a unit for cluster `local`; `command` replaces its provision.command. */
export const counterUnit = (
  overrides: Partial<DeploymentUnitInput> = {},
  command: ReadonlyArray<string> = [bun, "examples/counter/src/main.ts"],
  provision: Record<string, unknown> = {},
): DeploymentUnit =>
  Effect.runSync(decodeDeploymentUnit({
    id: "counter-dev-local",
    deploymentKey: "counter-dev",
    packageName: "counter",
    packageVersion: "1.0.0",
    cluster: "local",
    cls: {
      key: "Counter",
      state: { consistency: "STRONG", keys: [{ name: "count", type: "NUMBER" }] },
      bindings: [
        { name: "increment", function: "Counter.fn" },
        { name: "get", function: "Counter.fn" },
        { name: "reset", function: "Counter.fn", access: "INTERNAL" },
      ],
    },
    functions: [{ key: "Counter.fn", provision: { command, ...provision } }],
    odgm: { partitionCount: 4 },
    generation: 1,
    ...overrides,
  }))

/** The harness's poller with the CRM tests' longer default (units start real processes). */
export const eventually = <T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> =>
  pollUntil(what, check, timeoutMs)

/** Replicas of a unit found by their environment: moved to test/harness (the e2e suite uses them too). */
export { pidOfReplica as pidOf, pidsOfUnit } from "@oprc/test-harness"

interface CompiledOptions {
  readonly buildDir: string
  readonly dataDir: string
  readonly port: number
  readonly env?: Record<string, string>
  /** Where it runs; default `dataDir`. */
  readonly cwd?: string
}

/**
 * One binary of `buildDir` (the harness's binaryDir) on loopback `port`, run in `dataDir`; `storage` are
 * its storage flags (memory by default).
 */
const spawnCompiled = (
  binary: "oprc-pm" | "oprc-odgm" | "oprc-crm",
  o: CompiledOptions & { readonly logFile?: string },
  args: ReadonlyArray<string> = [],
  storage: ReadonlyArray<string> = ["--storage", "memory"],
) =>
  spawnServer({
    name: binary,
    cmd: [join(o.buildDir, binary), ...args, "--port", String(o.port), "--host", "127.0.0.1", ...storage],
    cwd: o.cwd ?? o.dataDir,
    ports: [o.port],
    ...(o.env ? { env: o.env } : {}),
    ...(o.logFile ? { logFile: o.logFile } : {}),
  })

/**
 * The compiled `oprc-crm` on `port`, registering its functions with the ODGM at `odgmUrl`, its log
 * in `dataDir/crm.log`; `args` choose the driver (process by default).
 */
export const spawnCompiledCrm = (
  o: CompiledOptions & {
    readonly odgmUrl: string
    readonly args?: ReadonlyArray<string>
    readonly storage?: ReadonlyArray<string>
  },
): ServerProcess =>
  spawnCompiled(
    "oprc-crm",
    { ...o, logFile: join(o.dataDir, "crm.log") },
    [...(o.args ?? []), "--odgm-url", o.odgmUrl],
    o.storage,
  )

/** The compiled `oprc-odgm` (memory storage) on `port`, as the binary tests put it behind a CRM. */
export const spawnCompiledOdgm = (options: CompiledOptions): ServerProcess => spawnCompiled("oprc-odgm", options)

/** Waits until each server answers its /readyz with 200 (30 s each); fails at once, with its log, if one dies. */
export const allReady = async (servers: ReadonlyArray<readonly [port: number, server: ServerProcess]>) => {
  for (const [port, server] of servers) {
    await waitForHttp(`http://127.0.0.1:${port}/readyz`, (status) => status === 200, 30_000, {
      abortIf: diedWith(server),
    })
  }
}

/**
 * The compiled `oprc-pm` (memory storage) with one cluster, `local`, served by the CRM on `crmPort`,
 * a 1 s resync and 300 ms health polls: what the binary tests put in front of a CRM.
 */
export const spawnPmOfLocalCluster = (options: CompiledOptions & { readonly crmPort: number }): ServerProcess => {
  const config = join(options.dataDir, "pm.yaml")
  writeFileSync(
    config,
    `clusters:\n  - {name: local, url: "http://127.0.0.1:${options.crmPort}"}\norchestration: {resyncMs: 1000, healthIntervalMs: 300}\n`,
  )
  return spawnCompiled("oprc-pm", options, ["--config", config])
}

/** Stops the servers one after the other (those started), the order a test tears its platform down in. */
export const stopInOrder = async (servers: ReadonlyArray<ServerProcess | undefined>) => {
  for (const s of servers) await s?.stop()
}
