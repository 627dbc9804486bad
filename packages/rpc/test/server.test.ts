import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import * as grpc from "@grpc/grpc-js"
import * as protoLoader from "@grpc/proto-loader"
import { create, toBinary } from "@bufbuild/protobuf"
import { Code, ConnectError, createClient } from "@connectrpc/connect"
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node"
import { functionv1, healthv1 } from "@oprc/proto"
import { startServer } from "../src"
import { testServer } from "./fixture"

const protoRoot = new URL("../../../proto", import.meta.url).pathname
let server: Awaited<ReturnType<typeof startServer>>
const counter = { calls: 0 }
const payload = (o: unknown) => new TextEncoder().encode(JSON.stringify(o))

beforeAll(async () => {
  server = await startServer(testServer(counter))
})
afterAll(() => server.stop())

describe("one port, every protocol", () => {
  test("curl-style Connect JSON over HTTP/1.1 answers grpc.health.v1 Check", async () => {
    const res = await fetch(`${server.url}/grpc.health.v1.Health/Check`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ status: "SERVING" })
  })

  test("@grpc/grpc-js over h2c gets SERVING on the same port", async () => {
    const def = protoLoader.loadSync("grpc/health/v1/health.proto", { includeDirs: [protoRoot], enums: String })
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      grpc: {
        health: {
          v1: { Health: new(addr: string, creds: grpc.ChannelCredentials) => grpc.Client & { check: Function } }
        }
      }
    }
    const client = new pkg.grpc.health.v1.Health(server.url.replace("http://", ""), grpc.credentials.createInsecure())
    const reply = await new Promise<{ status: string }>((resolve, reject) =>
      client.check({ service: "" }, (err: Error | null, r: { status: string }) => (err ? reject(err) : resolve(r)))
    )
    client.close()
    expect(reply.status).toBe("SERVING")
  })

  test("grpc-js reaches a service with status codes mapped from domain errors", async () => {
    const def = protoLoader.loadSync("oprc/function/v1/function.proto", { includeDirs: [protoRoot], keepCase: true })
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      oprc: {
        function: {
          v1: { FunctionService: new(a: string, c: grpc.ChannelCredentials) => grpc.Client & { invoke: Function } }
        }
      }
    }
    const client = new pkg.oprc.function.v1.FunctionService(
      server.url.replace("http://", ""),
      grpc.credentials.createInsecure(),
    )
    const err = await new Promise<grpc.ServiceError>((resolve) =>
      client.invoke(
        { cls: "c", payload: Buffer.from(JSON.stringify({ do: "notfound" })) },
        (e: grpc.ServiceError) => resolve(e),
      )
    )
    client.close()
    expect(err.code).toBe(grpc.status.NOT_FOUND)
    expect(err.details).toContain("object \"c\" not found")
  })

  for (
    const [name, transport] of [
      ["connect-node gRPC (h2c)", () => createGrpcTransport({ baseUrl: server.url })],
      [
        "connect-node Connect JSON over HTTP/1.1",
        () => createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }),
      ],
      [
        "connect-node Connect binary over HTTP/2",
        () => createConnectTransport({ baseUrl: server.url, httpVersion: "2", useBinaryFormat: true }),
      ],
      [
        "connect-node gRPC-Web over HTTP/1.1",
        () => createGrpcWebTransport({ baseUrl: server.url, httpVersion: "1.1" }),
      ],
    ] as const
  ) {
    test(`${name}: unary call, error mapping and server stream`, async () => {
      const fn = createClient(functionv1.FunctionService, transport())
      const ok = await fn.invoke({ cls: "c", payload: payload({ hello: 1 }) })
      expect(ok.status).toBe(functionv1.InvocationStatus.OK)
      expect(JSON.parse(new TextDecoder().decode(ok.output))).toEqual({ hello: 1 })
      const invalid = await fn.invoke({ cls: "c", payload: payload({ do: "invalid" }) }).catch((e) =>
        ConnectError.from(e)
      )
      expect(invalid).toBeInstanceOf(ConnectError)
      expect((invalid as ConnectError).code).toBe(Code.InvalidArgument)
      expect((invalid as ConnectError).rawMessage).toBe("payload.x: must be positive")
      const health = createClient(healthv1.Health, transport())
      const first = await health.watch({ service: "" })[Symbol.asyncIterator]().next()
      expect(first.value?.status).toBe(healthv1.HealthCheckResponse_ServingStatus.SERVING)
    })
  }

  test("defects become Internal with a reference, never the cause", async () => {
    const fn = createClient(
      functionv1.FunctionService,
      createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }),
    )
    const err = ConnectError.from(await fn.invoke({ cls: "c", payload: payload({ do: "defect" }) }).catch((e) => e))
    expect(err.code).toBe(Code.Internal)
    expect(err.rawMessage).toMatch(/^internal error \(ref [0-9a-f]{8}\)$/)
    expect(err.rawMessage).not.toContain("secret")
  })

  test("client deadlines are enforced by the server", async () => {
    const fn = createClient(functionv1.FunctionService, createGrpcTransport({ baseUrl: server.url }))
    const started = performance.now()
    const err = ConnectError.from(
      await fn.invoke({ cls: "c", payload: payload({ do: "sleep", ms: 2000 }) }, { timeoutMs: 150 }).catch((e) => e),
    )
    expect(err.code).toBe(Code.DeadlineExceeded)
    expect(performance.now() - started).toBeLessThan(1000)
  })

  test("REST routes, 404 and 405 with JSON errors", async () => {
    const r = await fetch(`${server.url}/api/echo/a%20b?q=1`)
    expect(await r.json()).toEqual({ name: "a b", q: "1" })
    const missing = await fetch(`${server.url}/api/missing/x`)
    expect(missing.status).toBe(404)
    expect(await missing.json()).toEqual({ error: { code: "not_found", message: "thing \"x\" not found" } })
    expect((await fetch(`${server.url}/api/echo/a`, { method: "DELETE" })).status).toBe(405)
    expect((await fetch(`${server.url}/nope`)).status).toBe(404)
  })

  test("bodies over the limit: 413 on REST, RESOURCE_EXHAUSTED on RPC", async () => {
    const big = "x".repeat(70 * 1024)
    const rest = await fetch(`${server.url}/api/echo`, {
      method: "POST",
      body: big,
      headers: { "content-type": "application/json" },
    })
    expect(rest.status).toBe(413)
    expect(((await rest.json()) as { error: { code: string } }).error.code).toBe("resource_exhausted")
    const fn = createClient(functionv1.FunctionService, createGrpcTransport({ baseUrl: server.url }))
    const err = ConnectError.from(await fn.invoke({ cls: "c", payload: new Uint8Array(70 * 1024) }).catch((e) => e))
    expect(err.code).toBe(Code.ResourceExhausted)
  })

  test("/metrics counts the calls by method and code; /healthz and /readyz answer", async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text()
    expect(text).toMatch(/oprc_rpc_requests_total\{service="grpc.health.v1.Health",method="Check",code="ok"\} [1-9]/)
    expect(text).toMatch(
      /oprc_rpc_requests_total\{service="oprc.function.v1.FunctionService",method="Invoke",code="invalid_argument"\} [1-9]/,
    )
    expect(text).toMatch(/oprc_http_requests_total\{route="\/api\/missing\/:id",method="GET",status="404"\} 1/)
    expect(text).toContain("oprc_rpc_request_duration_seconds_bucket")
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
    expect(await (await fetch(`${server.url}/readyz`)).json()).toEqual({ ready: true, checks: [] })
  })

  test("binary framing of a raw Connect unary call works without a client library", async () => {
    const body = toBinary(healthv1.HealthCheckRequestSchema, create(healthv1.HealthCheckRequestSchema, {}))
    const res = await fetch(`${server.url}/grpc.health.v1.Health/Check`, {
      method: "POST",
      headers: { "content-type": "application/proto" },
      body,
    })
    expect(res.status).toBe(200)
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(new Uint8Array([8, 1]))
  })
})
