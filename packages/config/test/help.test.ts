import { expect, test } from "bun:test"
import { helpText } from "../src/index.ts"
import { flags, Root } from "./fixtures.ts"

test("help lists flags and every key with its variable and default", () => {
  const text = helpText(Root, flags)
  const line = (start: string) => text.split("\n").find((l) => l.trimStart().startsWith(start)) ?? ""
  expect(line("--config <file>")).toContain(".yaml, .yml, .toml or .json")
  expect(line("--port <number>")).toContain("set server.port")
  expect(line("--storage <sqlite|etcd>")).toContain("set storage.kind")
  expect(line("--require-client-cert ")).toContain("set server.tls.requireClientCert")
  expect(line("--set <key>=<value>")).not.toBe("")
  expect(line("server.port <number>")).toContain("OPRC_SERVER_PORT  (default 8081)")
  expect(line("server.bodyLimitBytes")).toContain("OPRC_SERVER_BODY_LIMIT_BYTES  (default 4194304)")
  expect(line("server.tls.keyFile")).toContain("OPRC_SERVER_TLS_KEY_FILE  (required with server.tls)")
  expect(line("telemetry.otlp.endpoint")).toContain("(optional)")
  expect(line("auth.tokens <json>")).toContain("OPRC_AUTH_TOKENS  (default [], secret)")
  expect(line("storage.etcd.endpoints <string,...>")).toContain("(default [\"http://127.0.0.1:2379\"])")
  expect(text).toContain("listen port")
})

test("help honours a custom prefix", () => {
  expect(helpText(Root, {}, "PM")).toContain("PM_SERVER_PORT")
})
