#!/usr/bin/env node
// Installs the workspace with Bun on a machine that has only Node.js and npm.
// npm cannot read Bun's `catalog:` protocol, so `npm install` is not used for the workspace:
// Bun itself comes from the npm registry (`npx bun@<pinned>`), then installs everything else.
// Runs again only when package.json files or bun.lock changed since the last install.
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"

const root = new URL("..", import.meta.url).pathname
const BUN_VERSION = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).workspaces.catalog.bun
const stamp = join(root, "node_modules", ".oprc-install-stamp")

const manifests = () => {
  const files = [join(root, "package.json"), join(root, "bun.lock")]
  for (const dir of ["packages", "services", "examples"]) {
    const base = join(root, dir)
    if (!existsSync(base)) continue
    for (const d of readdirSync(base)) files.push(join(base, d, "package.json"))
  }
  files.push(join(root, "test", "package.json"), join(root, "bench", "package.json"))
  const h = createHash("sha256")
  for (const f of files) if (existsSync(f)) h.update(f).update(readFileSync(f))
  return h.digest("hex")
}

const want = manifests()
const bunBin = join(root, "node_modules", ".bin", "bun")
if (existsSync(stamp) && existsSync(bunBin) && readFileSync(stamp, "utf8") === want) process.exit(0)

const frozen = process.env.CI ? ["--frozen-lockfile"] : []
console.error(`[bootstrap] installing the workspace with bun ${BUN_VERSION}`)
execFileSync("npx", ["-y", `bun@${BUN_VERSION}`, "install", ...frozen], { cwd: root, stdio: "inherit" })
writeFileSync(stamp, manifests())
