#!/usr/bin/env bun
// Runs the emulator alone: `npx bun test/k8s-emulator/main.ts --port N [--kubeconfig FILE]
// [--workloads] [--ready-delay-ms MS] [--knative] [--keda] [--tls]`. Prints the URL and the kubeconfig path.
import { parseArgs } from "node:util"
import { startEmulator } from "./index.ts"

const USAGE =
  "usage: main.ts [--port N] [--host H] [--kubeconfig FILE] [--token T] [--workloads] [--ready-delay-ms MS] [--knative] [--keda] [--tls]"

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        port: { type: "string", default: "0" },
        host: { type: "string", default: "127.0.0.1" },
        kubeconfig: { type: "string" },
        token: { type: "string" },
        workloads: { type: "boolean", default: false },
        "ready-delay-ms": { type: "string", default: "1000" },
        knative: { type: "boolean", default: false },
        keda: { type: "boolean", default: false },
        tls: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
    })
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`)
    process.exit(2)
  }
})()

if (values.help) {
  console.log(USAGE)
  process.exit(0)
}
const port = Number(values.port)
const readyDelayMs = Number(values["ready-delay-ms"])
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port: ${values.port} is not a port number (0-65535)\n${USAGE}`)
  process.exit(2)
}
if (!Number.isFinite(readyDelayMs) || readyDelayMs < 0) {
  console.error(`--ready-delay-ms: ${values["ready-delay-ms"]} is not a non-negative number\n${USAGE}`)
  process.exit(2)
}

const emulator = await startEmulator({
  port,
  host: values.host,
  ...(values.kubeconfig ? { kubeconfigPath: values.kubeconfig } : {}),
  ...(values.token ? { token: values.token } : {}),
  ...(values.workloads ? { workloads: { readyDelayMs } } : {}),
  knative: values.knative,
  keda: values.keda,
  tls: values.tls,
}).catch((e: unknown) => {
  // e.g. EADDRINUSE: say which address, not a stack trace.
  console.error(`k8s-emulator: cannot start on ${values.host}:${port}: ${(e as Error).message}`)
  process.exit(1)
})
console.log(`k8s-emulator listening on ${emulator.url}`)
console.log(`kubeconfig: ${emulator.kubeconfigPath}`)
if (emulator.caPath) console.log(`ca: ${emulator.caPath}`)
const shutdown = async () => {
  await emulator.stop()
  process.exit(0)
}
process.on("SIGINT", shutdown)
process.on("SIGTERM", shutdown)
