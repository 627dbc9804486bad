import { afterAll, beforeAll, expect, test } from "bun:test"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { freePort, makeTempDir, type ServerProcess, spawnServer, waitForHttp } from "@oprc/test-harness"
import { type FunctionProcess, repoRoot, startFunction } from "./support/odgm.ts"

// Acceptance: the compiled oprc-odgm runs standalone with a collections file and the counter
// example's function process, and every command of the walkthrough in docs/odgm.md answers what
// the document says.

interface Step {
  readonly script: string
  readonly expected: ReadonlyArray<unknown>
}

/** The ```sh blocks of the Walkthrough section, each with the ```json block that follows it (one JSON per line). */
const walkthrough = (): Step[] => {
  const doc = readFileSync(join(repoRoot, "docs/odgm.md"), "utf8")
  const section = doc.slice(doc.indexOf("## Walkthrough"))
  const blocks = [...section.matchAll(/```(sh|json)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, body: m[2]! }))
  const steps: Step[] = []
  blocks.forEach((b, i) => {
    if (b.lang !== "sh" || b.body.startsWith("export ")) return
    const next = blocks[i + 1]
    const expected = next?.lang === "json" ? next.body.trim().split("\n").map((l) => JSON.parse(l) as unknown) : []
    steps.push({ script: b.body, expected })
  })
  return steps
}

/** `expected` is a pattern: "…" matches anything, objects match a subset of keys, arrays element-wise. */
const matches = (actual: unknown, expected: unknown): boolean => {
  if (expected === "…") return true
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => matches(actual[i], e))
  }
  if (expected !== null && typeof expected === "object") {
    return actual !== null && typeof actual === "object" &&
      Object.entries(expected).every(([k, v]) => matches((actual as Record<string, unknown>)[k], v))
  }
  return actual === expected
}

let fn: FunctionProcess
let odgm: ServerProcess
let url: string

beforeAll(async () => {
  const dir = makeTempDir("odgm-walkthrough")
  const built = Bun.spawnSync([process.execPath, join(repoRoot, "scripts/build.ts"), "--outdir", dir, "oprc-odgm"], {
    cwd: repoRoot,
    stderr: "pipe",
  })
  if (built.exitCode !== 0) throw new Error(`build failed: ${built.stderr.toString()}`)
  fn = await startFunction(join(repoRoot, "examples/counter/src/main.ts"))
  const collections = readFileSync(join(repoRoot, "examples/counter/collections.yaml"), "utf8").replaceAll(
    "http://127.0.0.1:9001",
    fn.url,
  )
  writeFileSync(join(dir, "collections.yaml"), collections)
  const port = await freePort()
  url = `http://127.0.0.1:${port}`
  // The binary alone, from an empty directory: nothing but its flags and the files they name.
  odgm = spawnServer({
    name: "oprc-odgm",
    cmd: [
      join(dir, "oprc-odgm"),
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--collections",
      join(dir, "collections.yaml"),
      "--sqlite",
      join(dir, "data/odgm.sqlite"),
    ],
    ports: [port],
    cwd: dir,
  })
  await waitForHttp(`${url}/readyz`, (s) => s === 200, 20_000, {
    abortIf: () => (odgm.alive() ? undefined : odgm.logTail()),
  })
}, 60_000)
afterAll(async () => {
  await odgm?.stop(5000)
  await fn?.stop()
})

test("docs/odgm.md walkthrough, replayed against dist/oprc-odgm", async () => {
  const steps = walkthrough()
  expect(steps.length).toBeGreaterThan(8)
  for (const step of steps) {
    // Reads may be retried until they match (trigger deliveries are asynchronous); writes run once.
    const readOnly = !/ -X | -d |--data/.test(step.script)
    const until = Date.now() + 10_000
    for (;;) {
      const r = Bun.spawnSync(["bash", "-c", `set -eo pipefail\ncurl() { command curl "$@"; echo; }\n${step.script}`], {
        env: { ...process.env, ODGM: url },
      })
      const lines = r.stdout.toString().split("\n").filter((l) => l.trim() !== "")
      const ok = r.exitCode === 0 && lines.length >= step.expected.length && step.expected.every((e, i) => {
        try {
          return matches(JSON.parse(lines[i]!), e)
        } catch {
          return false
        }
      })
      if (ok) break
      if (!readOnly || Date.now() > until) {
        throw new Error(
          `walkthrough step failed:\n${step.script}\nexit ${r.exitCode}, got:\n${
            lines.join("\n")
          }\n${r.stderr.toString()}\nexpected:\n${step.expected.map((e) => JSON.stringify(e)).join("\n")}`,
        )
      }
      await Bun.sleep(200)
    }
  }
}, 60_000)
