// Runs every benchmark in bench/ in turn (each runs its own baseline in the same run).
// Usage: bun bench/run.ts [seconds per measurement]
import { existsSync } from "node:fs"

const here = new URL(".", import.meta.url).pathname
const seconds = process.argv[2] ?? "10"
for (const name of ["rpc", "pm", "odgm"]) {
  const script = `${here}${name}/run.ts`
  if (!existsSync(script)) continue
  console.log(`\n== bench/${name}`)
  const r = Bun.spawnSync([process.execPath, script, seconds], { stdout: "inherit", stderr: "inherit" })
  if (r.exitCode !== 0) process.exit(r.exitCode ?? 1)
}
