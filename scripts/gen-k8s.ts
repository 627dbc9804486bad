// Writes deploy/crds (CRDs from the Kubernetes driver's Schema types) and deploy/rbac (the
// controller's least-privilege RBAC). `--check` writes nothing and exits 1 when a committed file
// differs from what would be generated.
//   npx bun scripts/gen-k8s.ts [--check]
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { generatedFiles } from "../services/crm/src/driver/kubernetes/manifests"

const root = new URL("..", import.meta.url).pathname
const check = process.argv.includes("--check")
const stale: Array<string> = []
for (const [path, text] of Object.entries(generatedFiles())) {
  const file = join(root, path)
  const current = existsSync(file) ? readFileSync(file, "utf8") : undefined
  if (current === text) continue
  if (check) {
    stale.push(path)
    continue
  }
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, text)
  console.log(`wrote ${path}`)
}
if (stale.length > 0) {
  console.error(`out of date (run npx bun scripts/gen-k8s.ts): ${stale.join(", ")}`)
  process.exit(1)
}
