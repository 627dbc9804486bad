#!/usr/bin/env bun
// The style gate: dprint (formatting, dprint.json), oxlint (type-only imports, duplicate imports,
// .oxlintrc.json) and knip (unused files, exports and dependencies, undeclared dependencies,
// knip.json). Each runs over the whole tree; the script exits non-zero if any of them has findings.
// `npx bun scripts/style.ts` checks; `npx bun scripts/style.ts --fix` lets dprint and oxlint
// rewrite what they can (knip's findings need a person: deleting code is a decision).
// The last line is `N passed, N failed`, one count per tool, in the shape scripts/test.ts prints.
import { spawnSync } from "node:child_process"
import { join } from "node:path"

const root = join(import.meta.dir, "..")
const bin = (name: string) => join(root, "node_modules", ".bin", name)
const fix = process.argv.includes("--fix")

interface Check {
  readonly name: string
  readonly cmd: ReadonlyArray<string>
}

const checks: ReadonlyArray<Check> = [
  { name: "dprint", cmd: [bin("dprint"), fix ? "fmt" : "check", "--list-different"] },
  { name: "oxlint", cmd: [bin("oxlint"), "-c", ".oxlintrc.json", "--deny-warnings", ...(fix ? ["--fix"] : []), "."] },
  { name: "knip", cmd: [bin("knip"), "--no-progress", "--reporter", "compact"] },
]

let passed = 0
let failed = 0
for (const check of checks) {
  const t0 = performance.now()
  // Bounded: each tool reads the tree once; a hang here would otherwise stall CI without a word.
  const r = spawnSync(check.cmd[0]!, check.cmd.slice(1), { cwd: root, stdio: "inherit", timeout: 5 * 60_000 })
  const secs = ((performance.now() - t0) / 1000).toFixed(1)
  const ok = r.status === 0
  console.error(
    `[style] ${check.name}: ${ok ? "clean" : r.error ? `could not run (${r.error.message})` : "findings"} (${secs} s)`,
  )
  if (ok) passed++
  else failed++
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
