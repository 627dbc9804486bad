#!/usr/bin/env bun
// Installs the Debian packages behind the servers the tests run (etcd, Prometheus, NATS) when
// their binaries are missing. Usage: bun scripts/ensure-system-deps.ts [binary...] [python]
// (`python`: Debian's python3 with grpcio and protobuf, for examples/python-counter)
import { DEFAULT_BINARIES, ensureBinaries, ensurePythonModules } from "../test/harness/system.ts"

const args = process.argv.length > 2 ? process.argv.slice(2) : [...DEFAULT_BINARIES]
const names = args.filter((a) => a !== "python")
try {
  if (args.includes("python")) console.log(`python (grpcio, protobuf): ${await ensurePythonModules()}`)
  const found = await ensureBinaries(names)
  for (const [name, path] of Object.entries(found)) console.log(`${name}: ${path}`)
} catch (e) {
  console.error(`ensure-system-deps: ${(e as Error).message}`)
  process.exit(1)
}
