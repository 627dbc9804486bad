import { describe, expect, test } from "bun:test"
import { parseArgs } from "../src/index.ts"
import { flags, Root } from "./fixtures.ts"

const parse = (...argv: Array<string>) => parseArgs(Root, argv, flags)

describe("parseArgs", () => {
  test("help, version and config are exposed for the binary", () => {
    expect(parse("--help")).toMatchObject({ help: true, version: false, config: undefined, issues: [] })
    expect(parse("-h").help).toBe(true)
    expect(parse("--version").version).toBe(true)
    expect(parse("--config", "a.toml").config).toBe("a.toml")
    expect(parse("--config=b.yaml").config).toBe("b.yaml")
  })

  test("assignments keep command-line order and name their flag", () => {
    expect(parse("--port", "1", "--set", "server.port=2", "--storage=etcd").assignments).toEqual([
      { key: "server.port", value: "1", flag: "--port" },
      { key: "server.port", value: "2", flag: "--set server.port" },
      { key: "storage.kind", value: "etcd", flag: "--storage" },
    ])
  })

  test("values may contain '=' and start with '-'", () => {
    expect(parse("--set", "telemetry.otlp.endpoint=http://x/?a=b").assignments[0]?.value).toBe("http://x/?a=b")
    expect(parse("--port", "-1").assignments[0]?.value).toBe("-1")
  })

  test("boolean flags: bare, explicit, negated", () => {
    const key = "server.tls.requireClientCert"
    expect(parse("--require-client-cert").assignments).toEqual([{ key, value: "true", flag: "--require-client-cert" }])
    expect(parse("--require-client-cert", "false").assignments[0]?.value).toBe("false")
    expect(parse("--require-client-cert=no").assignments[0]?.value).toBe("no")
    expect(parse("--no-require-client-cert").assignments[0]?.value).toBe("false")
    // The next word is not a boolean, so it is not swallowed as the flag's value.
    expect(parse("--require-client-cert", "--port", "1").assignments.map((a) => a.value)).toEqual(["true", "1"])
  })

  test("problems: unknown flag, missing value, bad --set, stray argument, repeated --config", () => {
    const messages = (...argv: Array<string>) => parse(...argv).issues.map((i) => i.message)
    expect(messages("--verbose")).toEqual(["unknown flag"])
    expect(messages("--hots", "x")).toEqual(["unknown flag (did you mean --host?)"])
    expect(messages("--port")).toEqual(["needs a value"])
    expect(messages("--port", "--host", "h")).toEqual(["needs a value"])
    expect(messages("--set", "server.port")).toEqual(["expected key=value"])
    expect(messages("--set", "server.prot=1")).toEqual(["unknown key server.prot (did you mean server.port?)"])
    expect(messages("serve")).toEqual(["unexpected argument \"serve\""])
    expect(messages("--", "a")).toEqual(["unexpected argument \"a\""])
    expect(messages("--config", "a.yaml", "--config", "b.yaml")).toEqual(["given more than once"])
    expect(parse("--verbose").issues[0]?.source).toEqual({ _tag: "Flag", flag: "--verbose" })
  })

  test("a flag map naming reserved flags or unknown keys is a programming error", () => {
    expect(() => parseArgs(Root, [], { "--config": "server.host" })).toThrow("invalid flag name --config")
    expect(() => parseArgs(Root, [], { port: "server.port" })).toThrow("invalid flag name port")
    expect(() => parseArgs(Root, [], { "--x": "server" })).toThrow("unknown key server")
  })
})
