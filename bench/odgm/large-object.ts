// bench/odgm/large-object.ts: where a PUT of an object near the 4 MiB body limit spends its time.
// One ODGM in this process (SQLite in a temp dir, real HTTP on a loopback port), a collection with
// `triggers` DATA_UPDATE triggers on every entry (0 by default), and `puts` sequential PUTs of the
// same ~3.7 MB object (1024 lists of `values` numbers), alternating two contents so every PUT
// changes every entry. Prints the per-PUT latency; run it under `--cpu-prof-md` to see the split.
// Usage: npx bun [--cpu-prof-md --cpu-prof-dir=/tmp/prof] bench/odgm/large-object.ts [puts] [triggers] [values]
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Schema } from "effect"
import { startServer } from "@oprc/rpc"
import { OdgmApp } from "../../services/odgm/src/OdgmApp.ts"
import { OdgmConfig } from "../../services/odgm/src/config.ts"

const puts = Number(process.argv[2] ?? 10)
const triggers = Number(process.argv[3] ?? 0)
const values = Number(process.argv[4] ?? 880)
const tmp = mkdtempSync(join(tmpdir(), "oprc-bench-large-"))
const config = Schema.decodeUnknownSync(OdgmConfig)({
  server: { host: "127.0.0.1" },
  storage: { kind: "sqlite", sqlite: { path: join(tmp, "odgm.sqlite") } },
  telemetry: { log: { level: "error" } },
})
const odgm = await startServer(OdgmApp({ ...config, server: { ...config.server, port: 0 } }))
const cls = "bench.Large"
try {
  const fns = Object.fromEntries(
    Array.from({ length: Math.max(1, triggers) }, (_, i) => [`f${i}`, { url: "http://127.0.0.1:9" }]),
  )
  const trig = Array.from(
    { length: triggers },
    (_, i) => ({ event: "DATA_UPDATE", source: "*", target: { function: `f${i}` } }),
  )
  const c = await fetch(`${odgm.url}/api/collections/${cls}`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ functions: fns, triggers: trig }),
  })
  if (c.status !== 200) throw new Error(`collection: ${c.status} ${await c.text()}`)
  const body = (n: number) =>
    JSON.stringify({
      entries: Object.fromEntries(
        Array.from({ length: 1024 }, (_, i) => [
          `k${i}`,
          Array.from({ length: values }, (_, j) => (i * values + j + n) % 10_000),
        ]),
      ),
    })
  const bodies = [body(0), body(1)]
  console.log(`body ${(bodies[0]!.length / 1e6).toFixed(2)} MB, ${1024 * values} values, ${triggers} triggers`)
  const ms: number[] = []
  for (let i = 0; i < puts; i++) {
    const t = performance.now()
    const r = await fetch(`${odgm.url}/api/class/${cls}/-/objects/big`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: bodies[i % 2],
    })
    const text = await r.text()
    ms.push(performance.now() - t)
    if (r.status >= 300) throw new Error(`PUT ${r.status}: ${text.slice(0, 300)}`)
  }
  const sorted = [...ms].sort((a, b) => a - b)
  console.log(
    `PUT ms: p50 ${sorted[Math.floor(puts / 2)]!.toFixed(0)} max ${sorted.at(-1)!.toFixed(0)} all ${
      ms.map((x) => x.toFixed(0)).join(" ")
    }`,
  )
} finally {
  await odgm.stop()
  rmSync(tmp, { recursive: true, force: true })
}
