import { describe, expect, test } from "bun:test"
import fc from "fast-check"
import { restJson } from "../src/server/answerCache"

/** What restJson wrote before its plain-stringify fast path: every value through the replacer. */
const withReplacer = (body: unknown): string =>
  JSON.stringify(body, (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value))

describe("restJson", () => {
  test("writes the same text as the bigint replacer, with and without bigints", () => {
    const bodies: Array<unknown> = [
      { name: "p", version: "1.0.0", tags: ["a", "b"], nested: { n: 1, ok: true, none: null, gone: undefined } },
      { version: 18446744073709551615n, items: [{ v: 1n }, { v: [2n, { deep: 3n }] }] },
      [1n, "x", null, undefined, () => 1],
      { at: new Date(0), custom: { toJSON: () => ({ big: 7n }) }, keyed: { toJSON: (k: string) => `key:${k}` } },
      { ["__proto__"]: 5n, "": -0, nan: Number.NaN },
      42n,
      "text",
      12,
      null,
    ]
    for (const body of bodies) expect(restJson(body)).toBe(withReplacer(body))
  })

  test("agrees with the replacer on arbitrary JSON-like values holding bigints", () => {
    const value = fc.letrec((tie) => ({
      leaf: fc.oneof(fc.bigInt(), fc.string(), fc.double(), fc.boolean(), fc.constant(null)),
      node: fc.oneof(
        { depthSize: "small" },
        tie("leaf"),
        fc.array(tie("node"), { maxLength: 4 }),
        fc.dictionary(fc.string(), tie("node"), { maxKeys: 4 }),
      ),
    })).node
    fc.assert(fc.property(fc.array(value), (body) => restJson(body) === withReplacer(body)))
  })

  test("a cycle still throws a TypeError", () => {
    const body: Record<string, unknown> = { big: 1n }
    body["self"] = body
    expect(() => restJson(body)).toThrow(TypeError)
  })

  test("the same body object reuses its text", () => {
    const body = { n: 1n }
    const first = restJson(body)
    ;(body as { n: unknown }).n = 2n
    expect(restJson(body)).toBe(first)
  })
})
