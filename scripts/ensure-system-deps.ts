#!/usr/bin/env bun
// Installs the Debian packages behind the servers the tests run (etcd, Prometheus, NATS) when
// their binaries are missing. Usage: bun scripts/ensure-system-deps.ts [binary...]
import { DEFAULT_BINARIES, ensureBinaries } from "../test/harness/system.ts"

const names = process.argv.length > 2 ? process.argv.slice(2) : [...DEFAULT_BINARIES]
try {
  const found = await ensureBinaries(names)
  for (const [name, path] of Object.entries(found)) console.log(`${name}: ${path}`)
} catch (e) {
  console.error(`ensure-system-deps: ${(e as Error).message}`)
  process.exit(1)
}
