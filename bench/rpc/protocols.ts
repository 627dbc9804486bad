// Every protocol a client may speak to the one public port, checked against a running server:
// Connect JSON and binary over HTTP/1.1, gRPC-Web over HTTP/1.1, gRPC and Connect over h2c.
// Usage: bun bench/rpc/protocols.ts <baseUrl>  -> prints one line per protocol, exits 1 on a failure
import { createClient, type Transport } from "@connectrpc/connect"
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node"
import { functionv1 } from "@oprc/proto"

const baseUrl = process.argv[2] ?? ""
const transports: Record<string, Transport> = {
  "connect json http/1.1": createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false }),
  "connect binary http/1.1": createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true }),
  "grpc-web http/1.1": createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }),
  "grpc h2c": createGrpcTransport({ baseUrl }),
  "connect binary h2c": createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true }),
}
let failed = false
for (const [name, transport] of Object.entries(transports)) {
  try {
    const r = await createClient(functionv1.FunctionService, transport).invoke({
      cls: "bench.Echo",
      payload: new TextEncoder().encode("hi"),
    }, { timeoutMs: 10_000 })
    const ok = r.headers["x-cls"] === "bench.Echo" && new TextDecoder().decode(r.output) === "hi"
    failed ||= !ok
    console.log(`${name}: ${ok ? "ok" : "wrong answer"}`)
  } catch (e) {
    failed = true
    console.log(`${name}: FAILED ${e instanceof Error ? e.message : String(e)}`)
  }
}
process.exit(failed ? 1 : 0)
