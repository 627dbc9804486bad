import { existsSync, readdirSync, statSync } from "node:fs"
import { join } from "node:path"
import { makeTempDir } from "./process.ts"

// The four compiled binaries (scripts/build.ts) for tests that run them as a user does.

const repoRoot = join(import.meta.dir, "../..")
export const BINARIES = ["oprc-pm", "oprc-crm", "oprc-odgm", "oprc"] as const

/** Newest modification time of what goes into a binary (sources, protos, lockfile). */
const newestSource = (): number => {
  let newest = 0
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === "node_modules" || entry.name === "test" || entry.name.startsWith(".")) continue
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (/\.(ts|json|proto)$/.test(entry.name)) newest = Math.max(newest, statSync(path).mtimeMs)
    }
  }
  for (const top of ["packages", "services"]) walk(join(repoRoot, top))
  for (const file of ["package.json", "bun.lock", "scripts/build.ts"]) {
    newest = Math.max(newest, statSync(join(repoRoot, file)).mtimeMs)
  }
  return newest
}

let binaries: Promise<string> | undefined

/**
 * The directory holding the four compiled binaries: dist/ when `npm run build` is newer than every
 * source file, otherwise a fresh build into a temp dir (once per test process; ~16 s here), so the
 * suite never runs yesterday's binaries.
 */
export const binaryDir = (): Promise<string> => (binaries ??= resolveBinaries())

const resolveBinaries = async (): Promise<string> => {
  const dist = join(repoRoot, "dist")
  const sources = newestSource()
  if (BINARIES.every((b) => existsSync(join(dist, b)) && statSync(join(dist, b)).mtimeMs >= sources)) return dist
  const outdir = makeTempDir("e2e-build")
  const build = Bun.spawn([process.execPath, "scripts/build.ts", "--outdir", outdir], {
    cwd: repoRoot,
    stdout: "pipe",
    stderr: "pipe",
  })
  if ((await build.exited) !== 0) throw new Error(`build failed: ${await new Response(build.stderr).text()}`)
  return outdir
}
