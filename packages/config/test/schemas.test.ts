import { describe, expect, test } from "bun:test"
import { Redacted, Result, Schema } from "effect"
import { AuthConfig, authEnabled, section, ServerConfig, serverConfig, TelemetryConfig } from "../src/index.ts"

const decode = <S extends Schema.Decoder<unknown>>(schema: S) => (input: unknown) =>
  Schema.decodeUnknownResult(schema)(input)

describe("shared sections", () => {
  test("each service gives its own default port", () => {
    for (const port of [8080, 8081, 8088]) {
      const Root = Schema.Struct({ server: section(serverConfig(port)) })
      expect(Schema.decodeUnknownSync(Root)({}).server.port).toBe(port)
    }
  })

  test("ServerConfig itself requires a port", () => {
    expect(Result.isFailure(decode(ServerConfig)({}))).toBe(true)
    expect(Schema.decodeUnknownSync(ServerConfig)({ port: 1 })).toEqual({
      host: "0.0.0.0",
      port: 1,
      bodyLimitBytes: 4194304,
      maxJsonDepth: 32,
      maxJsonValues: 1_000_000,
      headersTimeoutMs: 10_000,
      bodyTimeoutMs: 30_000,
      idleTimeoutMs: 15_000,
      maxConnections: 1024,
      bodyBudgetBytes: 64 * 1024 * 1024,
      shutdownGraceMs: 1500,
    })
  })

  test("auth is enabled iff tokens are configured", () => {
    expect(authEnabled(Schema.decodeUnknownSync(AuthConfig)({}))).toBe(false)
    const auth = Schema.decodeUnknownSync(AuthConfig)({ tokens: [{ name: "a", token: "t", role: "deployer" }] })
    expect(authEnabled(auth)).toBe(true)
    expect(Redacted.isRedacted(auth.tokens[0]?.token)).toBe(true)
  })

  test("token names and values must be unique", () => {
    const result = decode(AuthConfig)({
      tokens: [{ name: "a", token: "t", role: "admin" }, { name: "a", token: "t", role: "reader" }],
    })
    expect(Result.isFailure(result) ? result.failure.message : "").toContain("duplicate name")
  })

  test("telemetry defaults and limits", () => {
    expect(Schema.decodeUnknownSync(TelemetryConfig)({})).toEqual({
      log: { level: "info", format: "json" },
      otlp: { samplingRatio: 1 },
    })
    expect(Result.isFailure(decode(TelemetryConfig)({ otlp: { samplingRatio: 1.5 } }))).toBe(true)
    expect(Result.isFailure(decode(TelemetryConfig)({ otlp: { endpoint: "collector:4318" } }))).toBe(true)
    expect(Result.isFailure(decode(TelemetryConfig)({ log: { format: "text" } }))).toBe(true)
  })
})
