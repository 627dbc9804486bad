// The platform's services as a benchmark runs them: from source (`bun services/<name>/src/main.ts`),
// each its own process on a free loopback port, logging warnings only, ready once /readyz answers.
import { diedWith, freePorts, spawnServer, waitForHttp } from "@oprc/test-harness"

const root = new URL("../../", import.meta.url).pathname

export interface SourceServer {
  readonly url: string
  readonly pid: number
  readonly stop: () => Promise<void>
}

export const startFromSource = async (
  service: "pm" | "odgm" | "crm",
  args: ReadonlyArray<string>,
  options: {
    readonly cwd?: string
    readonly env?: Record<string, string>
    readonly readyMs?: number
    /** Flags for bun itself, before the entry (e.g. `--cpu-prof-md`). */
    readonly bunArgs?: ReadonlyArray<string>
  } = {},
): Promise<SourceServer> => {
  const [port] = await freePorts(1)
  const proc = spawnServer({
    name: service,
    cmd: [
      process.execPath,
      ...(options.bunArgs ?? []),
      `${root}services/${service}/src/main.ts`,
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      ...args,
    ],
    cwd: options.cwd ?? root,
    ports: [port!],
    env: { OPRC_TELEMETRY_LOG_LEVEL: "warn", ...options.env },
  })
  const url = `http://127.0.0.1:${port}`
  await waitForHttp(`${url}/readyz`, (s) => s === 200, options.readyMs ?? 60_000, { abortIf: diedWith(proc) })
  return { url, pid: proc.pid, stop: () => proc.stop() }
}

/** ODGM (memory storage) and a CRM that registers its functions there: what the CRM benchmarks measure. */
export const startOdgmAndCrm = async (
  crm: { readonly args: ReadonlyArray<string>; readonly env: Record<string, string> },
) => {
  const odgm = await startFromSource("odgm", ["--storage", "memory"])
  const crmServer = await startFromSource("crm", ["--odgm-url", odgm.url, "--storage", "memory", ...crm.args], {
    env: crm.env,
  }).catch(async (e) => {
    await odgm.stop()
    throw e
  })
  return { odgm, crm: crmServer }
}

/** PUTs `body` to each id of `cls` through the REST gateway, `batch` at a time; fails on any non-2xx. */
export const seedObjects = async (
  base: string,
  cls: string,
  ids: ReadonlyArray<string>,
  body: string,
  batch = 50,
) => {
  for (let i = 0; i < ids.length; i += batch) {
    await Promise.all(
      ids.slice(i, i + batch).map(async (id) => {
        const r = await fetch(`${base}/api/class/${cls}/-/objects/${id}`, {
          method: "PUT",
          headers: { "content-type": "application/json" },
          body,
        })
        if (r.status >= 300) throw new Error(`seed ${base} ${id}: ${r.status} ${await r.text()}`)
      }),
    )
  }
}
