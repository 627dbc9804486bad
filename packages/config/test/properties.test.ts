import { describe, expect, test } from "bun:test"
import fc from "fast-check"
import { Result } from "effect"
import { envName } from "../src/index.ts"
import { load, loadErr, loadOk } from "./fixtures.ts"

// Two lowercase letters first: single-letter words ("aBC") are ambiguous in camelCase itself.
const word = fc.stringMatching(/^[a-z]{2}[a-z0-9]{0,6}$/)
const capitalize = (w: string) => w.charAt(0).toUpperCase() + w.slice(1)

describe("properties", () => {
  test("a camelCase path maps to OPRC_ + its words in UPPER_SNAKE", () => {
    fc.assert(
      fc.property(fc.array(fc.array(word, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 4 }), (path) => {
        const segments = path.map(([first, ...rest]) => `${first}${rest.map(capitalize).join("")}`)
        expect(envName("OPRC", segments)).toBe(
          ["OPRC", ...path.map((words) => words.join("_").toUpperCase())].join("_"),
        )
      }),
    )
  })

  test("the highest-precedence source that sets a key wins", async () => {
    const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined })
    await fc.assert(
      fc.asyncProperty(port, port, port, async (file, env, flag) => {
        const config = await loadOk(
          [
            ...(file === undefined ? [] : ["--config", "c.toml"]),
            ...(flag === undefined ? [] : ["--port", String(flag)]),
          ],
          env === undefined ? {} : { OPRC_SERVER_PORT: String(env) },
          file === undefined ? {} : { "c.toml": `[server]\nport = ${file}\n` },
        )
        expect(config.server.port).toBe(flag ?? env ?? file ?? 8081)
      }),
      { numRuns: 60 },
    )
  })

  test("any port in 1..65535 is accepted from the environment, anything else is rejected naming the key", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: -100000, max: 200000 }), async (port) => {
        const result = await load([], { OPRC_SERVER_PORT: String(port) })
        if (port >= 1 && port <= 65535) {
          expect(Result.isSuccess(result) && result.success.server.port).toBe(port)
        } else {
          expect(Result.isFailure(result) && result.failure.issues).toEqual([{
            path: "server.port",
            message: `expected an integer between 1 and 65535, got ${port}`,
            source: { _tag: "Env", name: "OPRC_SERVER_PORT" },
          }])
        }
      }),
      { numRuns: 100 },
    )
  })

  test("comma-separated lists round-trip", async () => {
    const item = fc.stringMatching(/^[A-Za-z0-9:/._-]{1,20}$/)
    await fc.assert(
      fc.asyncProperty(fc.array(item, { maxLength: 6 }), async (items) => {
        const config = await loadOk([], { OPRC_STORAGE_ETCD_ENDPOINTS: items.join(" , ") })
        expect(config.storage.etcd.endpoints).toEqual(items.length === 0 ? ["http://127.0.0.1:2379"] : items)
      }),
      { numRuns: 50 },
    )
  })

  test("a token never appears in an error, whatever is wrong around it", async () => {
    const secret = fc.stringMatching(/^[A-Za-z0-9+/_-]{16,40}$/)
    const broken = (s: string): ReadonlyArray<unknown> => [
      s,
      [s],
      { token: s },
      [{ name: "a", token: s }],
      [{ name: "a", token: s, role: "root" }],
      [{ name: "", token: s, role: "admin" }],
      [{ name: "a", token: s, role: "admin", extra: s }],
      [{ name: "a", token: s, role: "admin" }, { name: "b", token: s, role: "admin" }],
    ]
    await fc.assert(
      fc.asyncProperty(secret, fc.nat(7), fc.boolean(), async (s, which, fromFile) => {
        const tokens = broken(s)[which]
        const error = fromFile
          ? await loadErr(["--config", "c.yaml"], {}, { "c.yaml": JSON.stringify({ auth: { tokens } }) })
          : await loadErr([], { OPRC_AUTH_TOKENS: JSON.stringify(tokens) })
        expect(`${error.message}\n${JSON.stringify(error)}`).not.toContain(s)
      }),
      { numRuns: 200 },
    )
  })
})
