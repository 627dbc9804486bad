// Shared by the examples' tests: run an example's function process and an ODGM (in this process,
// memory store) serving the example's collections.yaml with the function's real address.
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Schema } from "effect"
import YAML from "yaml"
import { loadPackageFile, type Package } from "@oprc/models"
import { OdgmApp, OdgmConfig } from "@oprc/odgm"
import { startServer } from "@oprc/rpc"
import { freePort, type ServerProcess, spawnServer, waitForHttp } from "@oprc/test-harness"

export const examplesDir = join(import.meta.dir, "..")
const repoRoot = join(examplesDir, "..")

export const startExample = async (name: string): Promise<{ url: string; proc: ServerProcess }> => {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const proc = spawnServer({
    name,
    cmd: [process.execPath, join(examplesDir, name, "src/main.ts")],
    ports: [port],
    env: { PORT: String(port), HOST: "127.0.0.1" },
    cwd: repoRoot,
  })
  await waitForHttp(`${url}/healthz`, (s) => s === 200, 20_000, {
    abortIf: () => (proc.alive() ? undefined : proc.logTail()),
  })
  return { url, proc }
}

/** The example's collections.yaml with every function URL pointed at `functionUrl`. */
export const collectionsOf = (name: string, functionUrl: string): Array<Record<string, unknown>> => {
  const doc = YAML.parse(readFileSync(join(examplesDir, name, "collections.yaml"), "utf8")) as {
    collections: Array<{ functions: Record<string, { url: string }> }>
  }
  return doc.collections.map((c) => ({
    ...c,
    functions: Object.fromEntries(Object.entries(c.functions).map(([k, f]) => [k, { ...f, url: functionUrl }])),
  }))
}

export const startOdgmFor = async (name: string, functionUrl: string, overrides: Record<string, unknown> = {}) => {
  const config = Schema.decodeUnknownSync(OdgmConfig)({
    server: { host: "127.0.0.1" },
    storage: { kind: "memory" },
    triggers: { pollIntervalMs: 50 },
    telemetry: { log: { level: "error" } },
    ...overrides,
  })
  const odgm = await startServer(OdgmApp({ ...config, server: { ...config.server, port: 0 } }))
  for (const c of collectionsOf(name, functionUrl)) {
    const r = await fetch(`${odgm.url}/api/collections/${c.name}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(c),
    })
    if (r.status !== 200) throw new Error(`applying ${String(c.name)}: ${r.status} ${await r.text()}`)
  }
  return odgm
}

export const loadPackage = (name: string): Package =>
  Effect.runSync(loadPackageFile(readFileSync(join(examplesDir, name, "package.yaml"), "utf8"), "yaml")).package

export const post = async (url: string, body?: unknown, headers: Record<string, string> = {}) => {
  const r = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await r.text()
  return { status: r.status, json: text ? (JSON.parse(text) as any) : undefined }
}
