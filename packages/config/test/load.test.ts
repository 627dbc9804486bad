import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, test } from "bun:test"
import { Effect, Redacted, Schema } from "effect"
import { loadConfig } from "../src/index.ts"
import { flags, loadErr, loadOk, Root } from "./fixtures.ts"

const yaml = `
server:
  port: 9000
  tls:
    certFile: /etc/oprc/tls.crt
    keyFile: /etc/oprc/tls.key
auth:
  tokens:
    - name: ops
      token: yaml-secret-token
      role: admin
telemetry:
  log:
    level: debug
storage:
  kind: etcd
  etcd:
    endpoints: [http://a:2379, http://b:2379]
`

const toml = `
[server]
port = 9100
host = "127.0.0.1"

[[auth.tokens]]
name = "ci"
token = "toml-secret-token"
role = "deployer"

[telemetry.otlp]
endpoint = "http://collector:4318"
samplingRatio = 0.25
`

describe("defaults", () => {
  test("an empty command line and environment give every default, with the service's port", async () => {
    const config = await loadOk([])
    expect(config.server).toEqual({
      host: "0.0.0.0",
      port: 8081,
      bodyLimitBytes: 4 * 1024 * 1024,
      maxJsonDepth: 32,
      maxJsonValues: 1_000_000,
      headersTimeoutMs: 10_000,
      bodyTimeoutMs: 30_000,
      idleTimeoutMs: 15_000,
      maxConnections: 1024,
      bodyBudgetBytes: 64 * 1024 * 1024,
      shutdownGraceMs: 1500,
    })
    expect(config.auth.tokens).toEqual([])
    expect(config.telemetry).toEqual({ log: { level: "info", format: "json" }, otlp: { samplingRatio: 1 } })
    expect(config.storage.kind).toBe("sqlite")
  })

  test("keys missing from a file keep their defaults", async () => {
    const config = await loadOk(["--config", "c.yaml"], {}, { "c.yaml": "server:\n  host: 10.0.0.1\n" })
    expect(config.server.host).toBe("10.0.0.1")
    expect(config.server.port).toBe(8081)
    expect(config.telemetry.log.format).toBe("json")
  })
})

describe("config files", () => {
  test("YAML", async () => {
    const config = await loadOk(["--config", "oprc.yaml"], {}, { "oprc.yaml": yaml })
    expect(config.server.port).toBe(9000)
    expect(config.server.tls).toEqual({
      certFile: "/etc/oprc/tls.crt",
      keyFile: "/etc/oprc/tls.key",
      requireClientCert: false,
    })
    expect(config.auth.tokens.map((t) => [t.name, Redacted.value(t.token), t.role])).toEqual([[
      "ops",
      "yaml-secret-token",
      "admin",
    ]])
    expect(config.telemetry.log.level).toBe("debug")
    expect(config.storage.etcd.endpoints).toEqual(["http://a:2379", "http://b:2379"])
  })

  test("TOML, with --config=<file>", async () => {
    const config = await loadOk(["--config=oprc.toml"], {}, { "oprc.toml": toml })
    expect(config.server).toMatchObject({ port: 9100, host: "127.0.0.1" })
    expect(Redacted.value(config.auth.tokens[0]!.token)).toBe("toml-secret-token")
    expect(config.telemetry.otlp).toEqual({ endpoint: "http://collector:4318", samplingRatio: 0.25 })
  })

  test("JSON, and .yml", async () => {
    const json = await loadOk(["--config", "c.json"], {}, { "c.json": `{"server": {"port": 7000}}` })
    expect(json.server.port).toBe(7000)
    const yml = await loadOk(["--config", "c.yml"], {}, { "c.yml": "server: { port: 7001 }" })
    expect(yml.server.port).toBe(7001)
  })

  test("an empty YAML file sets nothing", async () => {
    expect((await loadOk(["--config", "empty.yaml"], {}, { "empty.yaml": "# nothing yet\n" })).server.port).toBe(8081)
  })

  test("reads from disk by default", async () => {
    const dir = mkdtempSync(join(tmpdir(), "oprc-config-"))
    const file = join(dir, "pm.yaml")
    writeFileSync(file, "server:\n  port: 9999\n")
    const config = await Effect.runPromise(loadConfig(Root, { argv: ["--config", file], env: {} }))
    expect(config.server.port).toBe(9999)
    const error = await Effect.runPromise(
      Effect.flip(loadConfig(Root, { argv: ["--config", join(dir, "nope.yaml")], env: {} })),
    )
    expect(error.message).toContain(`config file ${join(dir, "nope.yaml")}: cannot read: file not found`)
  })

  test("a missing file is one clear error naming the file", async () => {
    const error = await loadErr(["--config", "missing.yaml"])
    expect(error._tag).toBe("ConfigLoadError")
    expect(error.issues).toEqual([{
      path: "",
      message: "cannot read: file not found",
      source: { _tag: "File", file: "missing.yaml" },
    }])
    expect(error.message).toBe("invalid configuration:\n  - config file missing.yaml: cannot read: file not found")
  })

  test("malformed YAML names the file and the line", async () => {
    const error = await loadErr(["--config", "bad.yaml"], {}, {
      "bad.yaml": "server:\n  port: 9000\n  host: [oops\nauth: {}\n",
    })
    expect(error.issues[0]?.source).toMatchObject({ _tag: "File", file: "bad.yaml", line: 4 })
    expect(error.message).toMatch(/config file bad\.yaml:4:\d+: invalid YAML: /)
  })

  test("malformed TOML names the file and the line, without echoing the source", async () => {
    const error = await loadErr(["--config", "bad.toml"], {}, {
      "bad.toml": "[server]\nport = 1\ntoken = \"unterminated-secret\nx = 2\n",
    })
    expect(error.issues[0]?.source).toMatchObject({ _tag: "File", file: "bad.toml", line: 3 })
    expect(error.message).toContain("config file bad.toml:3:")
    expect(error.message).not.toContain("unterminated-secret")
  })

  test("malformed JSON names the file without echoing the offending text", async () => {
    const error = await loadErr(["--config", "bad.json"], {}, {
      "bad.json": `{"auth": {"tokens": [{"token": hunter2hunter2}]}}`,
    })
    expect(error.message).toContain("config file bad.json")
    expect(error.message).toContain("invalid JSON")
    expect(error.message).not.toContain("hunter2")
  })

  test("an unsupported extension and a non-mapping document are rejected", async () => {
    expect((await loadErr(["--config", "c.ini"], {}, { "c.ini": "" })).message).toContain(
      "unsupported extension \".ini\"",
    )
    expect((await loadErr(["--config", "c.yaml"], {}, { "c.yaml": "- a\n- b\n" })).message).toContain(
      "expected a mapping",
    )
  })

  test("unknown keys in a file are reported (typos), unless allowed", async () => {
    const files = { "c.yaml": "server:\n  prot: 9000\n" }
    const error = await loadErr(["--config", "c.yaml"], {}, files)
    expect(error.issues).toEqual([{
      path: "server.prot",
      message: "unknown key",
      source: { _tag: "File", file: "c.yaml", line: 2, column: 9 },
    }])
    expect((await loadOk(["--config", "c.yaml"], {}, files, { allowUnknownKeys: true })).server.port).toBe(8081)
  })
})

describe("environment overrides", () => {
  test("OPRC_<PATH> in UPPER_SNAKE sets the key, coerced to its type", async () => {
    const config = await loadOk([], {
      OPRC_SERVER_PORT: "9001",
      OPRC_SERVER_BODY_LIMIT_BYTES: "1024",
      OPRC_STORAGE_KIND: "etcd",
      OPRC_STORAGE_ETCD_ENDPOINTS: "http://a:2379, http://b:2379",
      OPRC_STORAGE_SQLITE_SYNCHRONOUS_FULL: "false",
      OPRC_TELEMETRY_OTLP_SAMPLING_RATIO: "0.5",
      OPRC_AUTH_TOKENS: JSON.stringify([{ name: "env", token: "env-secret-token", role: "reader" }]),
    })
    expect(config.server.port).toBe(9001)
    expect(config.server.bodyLimitBytes).toBe(1024)
    expect(config.storage.kind).toBe("etcd")
    expect(config.storage.etcd.endpoints).toEqual(["http://a:2379", "http://b:2379"])
    expect(config.storage.sqlite.synchronousFull).toBe(false)
    expect(config.telemetry.otlp.samplingRatio).toBe(0.5)
    expect(config.auth.tokens[0]?.role).toBe("reader")
  })

  test("env can fill in an optional section", async () => {
    const config = await loadOk([], { OPRC_SERVER_TLS_CERT_FILE: "c.pem", OPRC_SERVER_TLS_KEY_FILE: "k.pem" })
    expect(config.server.tls).toEqual({ certFile: "c.pem", keyFile: "k.pem", requireClientCert: false })
  })

  test("unknown OPRC_* variables are ignored, and empty ones count as unset", async () => {
    const config = await loadOk([], {
      OPRC_CRM_SOMETHING: "x",
      OPRC_SERVER_PORTT: "1",
      OPRC_SERVER_PORT: "",
      PATH: "/bin",
    })
    expect(config.server.port).toBe(8081)
  })

  test("a custom prefix", async () => {
    expect(
      (await loadOk([], { TEST_SERVER_PORT: "1234", OPRC_SERVER_PORT: "1" }, {}, { envPrefix: "TEST" })).server.port,
    ).toBe(1234)
  })
})

describe("flags", () => {
  test("service flags in both forms, and --set for any key", async () => {
    const config = await loadOk([
      "--port",
      "9002",
      "--host=127.0.0.1",
      "--storage",
      "etcd",
      "--set",
      "storage.etcd.timeoutMs=250",
    ])
    expect(config.server).toMatchObject({ port: 9002, host: "127.0.0.1" })
    expect(config.storage).toMatchObject({ kind: "etcd", etcd: { timeoutMs: 250 } })
  })

  test("precedence: defaults < file < env < flags", async () => {
    const files = { "c.yaml": "server:\n  port: 9000\n  host: file-host\n  bodyLimitBytes: 10\n" }
    const env = { OPRC_SERVER_PORT: "9001", OPRC_SERVER_HOST: "env-host" }
    const config = await loadOk(["--config", "c.yaml", "--port", "9002"], env, files)
    expect(config.server).toMatchObject({ port: 9002, host: "env-host", bodyLimitBytes: 10, shutdownGraceMs: 1500 })
  })

  test("the last flag for a key wins", async () => {
    expect((await loadOk(["--port", "1", "--set", "server.port=2"])).server.port).toBe(2)
  })

  test("an unknown flag is an error naming it, with a suggestion", async () => {
    const error = await loadErr(["--prot", "9000"])
    expect(error.issues).toEqual([{
      path: "",
      message: "unknown flag (did you mean --port?)",
      source: { _tag: "Flag", flag: "--prot" },
    }])
    expect(error.message).toContain("flag --prot: unknown flag")
  })

  test("command-line problems are all listed, and the file is not needed to report them", async () => {
    const error = await loadErr(["--config", "missing.yaml", "--bogus", "--set", "server.nope=1", "stray", "--port"])
    expect(error.issues.map((i) => i.message)).toEqual([
      "unknown flag",
      "unknown key server.nope",
      "unexpected argument \"stray\"",
      "needs a value",
      "cannot read: file not found",
    ])
  })
})

describe("validation errors", () => {
  test("name the key, the reason, the value and where it came from", async () => {
    const error = await loadErr(["--config", "c.yaml"], { OPRC_SERVER_PORT: "abc" }, {
      "c.yaml": "telemetry:\n  log:\n    level: loud\n",
    })
    expect(error.issues).toContainEqual({
      path: "server.port",
      message: "expected an integer between 1 and 65535, got \"abc\"",
      source: { _tag: "Env", name: "OPRC_SERVER_PORT" },
    })
    expect(error.message).toContain(
      "server.port: expected an integer between 1 and 65535, got \"abc\" (from env OPRC_SERVER_PORT)",
    )
    expect(error.message).toContain(
      "telemetry.log.level: expected \"trace\" | \"debug\" | \"info\" | \"warn\" | \"error\", got \"loud\" (from file c.yaml:3:12)",
    )
  })

  test("out of range and fractional ports read the same way", async () => {
    for (const port of ["0", "65536", "80.5"]) {
      const error = await loadErr(["--port", port])
      expect(error.message).toContain(
        `server.port: expected an integer between 1 and 65535, got ${Number(port)} (from flag --port)`,
      )
    }
  })

  test("several problems are all listed", async () => {
    const error = await loadErr(["--set", "telemetry.otlp.samplingRatio=2"], {
      OPRC_SERVER_BODY_LIMIT_BYTES: "0",
      OPRC_TELEMETRY_OTLP_ENDPOINT: "not a url",
    })
    expect(error.issues.map((i) => i.path).sort()).toEqual([
      "server.bodyLimitBytes",
      "telemetry.otlp.endpoint",
      "telemetry.otlp.samplingRatio",
    ])
    expect(error.message.split("\n")[0]).toBe("invalid configuration (3 problems):")
  })

  test("unreadable JSON in a variable is explained, next to the other problems", async () => {
    const error = await loadErr([], { OPRC_STORAGE_ETCD_ENDPOINTS: "[1,", OPRC_SERVER_PORT: "x" })
    expect(error.issues.map((i) => i.path)).toEqual(["storage.etcd.endpoints", "server.port"])
    expect(error.issues[0]?.message).toStartWith("expected a JSON array: ")
  })

  test("a required key of an optional section", async () => {
    const error = await loadErr([], { OPRC_SERVER_TLS_CERT_FILE: "c.pem" })
    expect(error.issues).toEqual([{ path: "server.tls.keyFile", message: "is required" }])
  })

  test("mTLS without a CA bundle is rejected", async () => {
    const env = { OPRC_SERVER_TLS_CERT_FILE: "c.pem", OPRC_SERVER_TLS_KEY_FILE: "k.pem" }
    const error = await loadErr(["--require-client-cert"], env)
    expect(error.message).toContain("server.tls.caFile: required when requireClientCert is true")
    const config = await loadOk(["--require-client-cert"], { ...env, OPRC_SERVER_TLS_CA_FILE: "ca.pem" })
    expect(config.server.tls?.requireClientCert).toBe(true)
  })
})

describe("secrets", () => {
  const secret = "s3cr3t-do-not-print"
  const show = (e: unknown) => `${String(e)}\n${JSON.stringify(e)}\n${Bun.inspect(e)}`

  test("a malformed token list in the environment is reported without its text", async () => {
    const error = await loadErr([], { OPRC_AUTH_TOKENS: `[{"name": "a", "token": ${secret}}]` })
    expect(error.issues).toEqual([{
      path: "auth.tokens",
      message: "expected a JSON array",
      source: { _tag: "Env", name: "OPRC_AUTH_TOKENS" },
    }])
    expect(show(error)).not.toContain(secret)
  })

  test("invalid token entries never print the token", async () => {
    const cases: ReadonlyArray<unknown> = [
      secret,
      [secret],
      [{ name: "a", token: secret }],
      [{ name: "a", token: secret, role: "root" }],
      [{ name: "a", token: secret, role: "admin", tokn: secret }],
      [{ name: "a", token: secret, role: "admin" }, { name: "b", token: secret, role: "reader" }],
    ]
    for (const tokens of cases) {
      const error = await loadErr([], { OPRC_AUTH_TOKENS: JSON.stringify(tokens) })
      expect(show(error)).not.toContain(secret)
      const fromFile = await loadErr(["--config", "c.json"], {}, { "c.json": JSON.stringify({ auth: { tokens } }) })
      expect(show(fromFile)).not.toContain(secret)
    }
  })

  test("a duplicate token is reported by position", async () => {
    const tokens = [{ name: "a", token: secret, role: "admin" }, { name: "b", token: secret, role: "reader" }]
    const error = await loadErr([], { OPRC_AUTH_TOKENS: JSON.stringify(tokens) })
    expect(error.message).toContain(
      "auth.tokens[1].token: duplicate token (same value as entry 0) (from env OPRC_AUTH_TOKENS)",
    )
  })

  test("other values of a token entry are still shown", async () => {
    const error = await loadErr([], { OPRC_AUTH_TOKENS: JSON.stringify([{ name: "a", token: secret, role: "root" }]) })
    expect(error.message).toContain("auth.tokens[0].role: expected \"admin\" | \"deployer\" | \"reader\", got \"root\"")
  })

  test("a loaded config prints and serializes tokens redacted", async () => {
    const config = await loadOk([], { OPRC_AUTH_TOKENS: JSON.stringify([{ name: "a", token: secret, role: "admin" }]) })
    expect(show(config)).not.toContain(secret)
    expect(Redacted.value(config.auth.tokens[0]!.token)).toBe(secret)
  })
})

describe("schema defects", () => {
  test("two keys mapping to one variable is a defect, not a user error", async () => {
    const Clash = Schema.Struct({
      tls: Schema.Struct({ certFile: Schema.String }),
      tlsCert: Schema.Struct({ file: Schema.String }),
    })
    const exit = await Effect.runPromiseExit(loadConfig(Clash, { argv: [], env: {} }))
    expect(exit._tag).toBe("Failure")
    expect(String(exit)).toContain("both map to OPRC_TLS_CERT_FILE")
  })

  test("a flag mapped to an unknown key is a defect", async () => {
    const exit = await Effect.runPromiseExit(
      loadConfig(Root, { argv: [], env: {}, flags: { ...flags, "--x": "server.x" } }),
    )
    expect(String(exit)).toContain("--x maps to unknown key server.x")
  })
})
