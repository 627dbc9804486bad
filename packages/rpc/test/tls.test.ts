import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { createClient } from "@connectrpc/connect"
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node"
import { Effect } from "effect"
import { healthv1 } from "@oprc/proto"
import { makeTempDir } from "@oprc/test-harness"
import { makeClient, startServer } from "../src"
import { testServer } from "./fixture"

// Real certificates from openssl: a CA, a server certificate for 127.0.0.1 and a client one.
const dir = makeTempDir("oprc-tls")
const sh = (cmd: string) => {
  const r = Bun.spawnSync(["sh", "-c", cmd], { cwd: dir, stderr: "pipe" })
  if (r.exitCode !== 0) throw new Error(`${cmd}: ${r.stderr.toString()}`)
}
const file = (name: string) => join(dir, name)
let server: Awaited<ReturnType<typeof startServer>>

beforeAll(async () => {
  sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=oprc-test-ca -keyout ca.key -out ca.crt")
  sh("printf 'subjectAltName=IP:127.0.0.1,DNS:localhost' > san.ext")
  sh("openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key -out server.csr")
  sh(
    "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out server.crt",
  )
  sh("openssl req -newkey rsa:2048 -nodes -subj /CN=oprc-client -keyout client.key -out client.csr")
  sh("openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out client.crt")
  server = await startServer(
    testServer({ calls: 0 }, {
      tls: {
        certFile: file("server.crt"),
        keyFile: file("server.key"),
        caFile: file("ca.crt"),
        requireClientCert: true,
      },
    }),
  )
}, 60_000)
afterAll(() => server?.stop())

const clientTls = () => ({
  ca: readFileSync(file("ca.crt")),
  cert: readFileSync(file("client.crt")),
  key: readFileSync(file("client.key")),
})

describe("TLS and mTLS on the one port", () => {
  test("the server URL is https", () => expect(server.url).toStartWith("https://127.0.0.1:"))

  test("gRPC over TLS (ALPN h2) with a client certificate", async () => {
    const health = createClient(healthv1.Health, createGrpcTransport({ baseUrl: server.url, nodeOptions: clientTls() }))
    expect((await health.check({})).status).toBe(healthv1.HealthCheckResponse_ServingStatus.SERVING)
  })

  test("Connect JSON over HTTPS/1.1 with a client certificate", async () => {
    const health = createClient(
      healthv1.Health,
      createConnectTransport({ baseUrl: server.url, httpVersion: "1.1", nodeOptions: clientTls() }),
    )
    expect((await health.check({})).status).toBe(healthv1.HealthCheckResponse_ServingStatus.SERVING)
  })

  test("makeClient with tls files (as services configure it)", async () => {
    const client = makeClient(healthv1.Health, {
      baseUrl: server.url,
      protocol: "grpc",
      tls: { caFile: file("ca.crt"), certFile: file("client.crt"), keyFile: file("client.key") },
    })
    expect((await Effect.runPromise(client.check({}))).status).toBe(healthv1.HealthCheckResponse_ServingStatus.SERVING)
  })

  test("makeClient over Connect (fetch) with tls files", async () => {
    const client = makeClient(healthv1.Health, {
      baseUrl: server.url,
      tls: { caFile: file("ca.crt"), certFile: file("client.crt"), keyFile: file("client.key") },
    })
    expect((await Effect.runPromise(client.check({}))).status).toBe(healthv1.HealthCheckResponse_ServingStatus.SERVING)
  })

  test("without a client certificate the handshake is refused", async () => {
    const health = createClient(
      healthv1.Health,
      createGrpcTransport({ baseUrl: server.url, nodeOptions: { ca: readFileSync(file("ca.crt")) } }),
    )
    expect(await health.check({}, { timeoutMs: 3000 }).then(() => "served", () => "refused")).toBe("refused")
  })

  test("a client that does not trust the CA is refused", async () => {
    const health = createClient(
      healthv1.Health,
      createConnectTransport({
        baseUrl: server.url,
        httpVersion: "1.1",
        nodeOptions: { cert: readFileSync(file("client.crt")), key: readFileSync(file("client.key")) },
      }),
    )
    expect(await health.check({}, { timeoutMs: 3000 }).then(() => "served", () => "refused")).toBe("refused")
  })
})

describe("connection timeouts over TLS", () => {
  test("an idle HTTP/1.1 keep-alive connection over TLS is closed after idleTimeoutMs", async () => {
    const tlsServer = await startServer(
      testServer({ calls: 0 }, {
        idleTimeoutMs: 500,
        tls: { certFile: file("server.crt"), keyFile: file("server.key") },
      }),
    )
    try {
      const { connect } = await import("node:tls")
      const started = Date.now()
      const closedAfter = await new Promise<number>((resolve, reject) => {
        const socket = connect({
          host: "127.0.0.1",
          port: tlsServer.port,
          ca: readFileSync(file("ca.crt")),
          ALPNProtocols: ["http/1.1"],
        }, () => socket.write("GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n"))
        let text = ""
        socket.on("data", (d) => (text += d.toString()))
        socket.on("close", () => (text.includes("200") ? resolve(Date.now() - started) : reject(new Error(text))))
        socket.on("error", () => undefined)
      })
      expect(closedAfter).toBeGreaterThan(400)
      expect(closedAfter).toBeLessThan(4000)
    } finally {
      await tlsServer.stop()
    }
  })
})
