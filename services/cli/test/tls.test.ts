import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { makeTempDir } from "../../../test/harness/index.ts"
import { makeCertificates } from "../../pm/test/certs"
import { buildCli, type Cli, cliRunner, startPmWith } from "./support"

// The context's CA file and token against a PM that serves HTTPS and requires bearer tokens.
let binary: string
let pm: Awaited<ReturnType<typeof startPmWith>>
let certs: ReturnType<typeof makeCertificates>
let cli: Cli

beforeAll(async () => {
  certs = makeCertificates(makeTempDir("oprc-cli-certs"))
  binary = await buildCli()
  pm = await startPmWith({
    server: { host: "127.0.0.1", port: 8080, shutdownGraceMs: 200, tls: certs.server },
    auth: { tokens: [{ name: "ci", token: "reader-secret-1", role: "reader" }] },
  })
  cli = cliRunner(binary, {})
}, 120_000)

afterAll(async () => {
  await pm?.stop()
})

describe("https and bearer tokens", () => {
  test(
    "a context with the CA file and token works; without the CA the server is unreachable (3); a bad token is refused (1)",
    async () => {
      expect(pm.url.startsWith("https://")).toBe(true)
      expect(
        (await cli.run([
          "ctx",
          "set",
          "secure",
          "--pm-url",
          pm.url,
          "--ca-file",
          certs.ca,
          "--token",
          "reader-secret-1",
        ])).code,
      ).toBe(0)
      const ok = await cli.run(["pkg", "list", "-o", "json"])
      expect({ code: ok.code, err: ok.stderr }).toEqual({ code: 0, err: "" })
      expect(ok.json()).toEqual({ items: [] })

      const noCa = await cli.run(["pkg", "list", "--ca-file", ""])
      expect(noCa.code).toBe(3)
      expect(noCa.stderr).toContain(`cannot reach the PM at ${pm.url}`)
      expect(noCa.stderr.trim().split("\n")).toHaveLength(1)

      const badToken = await cli.run(["pkg", "list", "--token", "wrong"])
      expect(badToken.code).toBe(1)
      expect(badToken.stderr.trim()).toMatch(/^error: PM: .*\(unauthenticated, HTTP 401\)$/)

      const reader = await cli.run(["pkg", "apply", "-f", "examples/counter/package.yaml"])
      expect(reader.code).toBe(1)
      expect(reader.stderr.trim()).toMatch(/^error: PM: .*reader.*\(permission_denied, HTTP 403\)$/)
    },
    60_000,
  )
})
