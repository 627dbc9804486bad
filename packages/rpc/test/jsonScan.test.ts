import { expect, test } from "bun:test"
import fc from "fast-check"
import { scanJsonText } from "../src/server/jsonDepth"

/** Nesting depth and comma count of a parsed value, the way the text scan counts them. */
const shapeOf = (u: unknown, depth = 0): { depth: number; commas: number } => {
  if (u === null || typeof u !== "object") return { depth, commas: 0 }
  const items = Array.isArray(u) ? u : Object.values(u)
  let deepest = depth + 1
  let commas = Math.max(items.length - 1, 0)
  for (const x of items) {
    const s = shapeOf(x, depth + 1)
    deepest = Math.max(deepest, s.depth)
    commas += s.commas
  }
  return { depth: deepest, commas }
}

// Strings full of the characters the scan reacts to: quotes, backslashes, brackets, commas.
const tricky = fc.stringMatching(/^[\\"[\]{},a]{0,12}$/)
const json = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: "small" }, tricky, fc.integer(), tie("list"), tie("map")),
  list: fc.array(tie("value"), { maxLength: 4 }),
  map: fc.dictionary(tricky, tie("value"), { maxKeys: 4 }),
})).value

test("the scan's depth and value count agree with the parsed document, whatever its strings hold", () => {
  fc.assert(
    fc.property(json, (value) => {
      const text = JSON.stringify(value)
      const { depth, commas } = shapeOf(value)
      expect(scanJsonText(text, depth, commas)).toBeUndefined()
      if (depth > 0) expect(scanJsonText(text, depth - 1)?.kind).toBe("depth")
      if (commas > 0) expect(scanJsonText(text, depth, commas - 1)?.kind).toBe("values")
    }),
    { numRuns: 500 },
  )
})

test("nesting after a 4 MB string (with escaped quotes in it) is still found", () => {
  const pad = `${"x".repeat(2 * 1024 * 1024)}\\\"${"y".repeat(2 * 1024 * 1024)}`
  const text = `{"pad":"${pad}","d":${"[".repeat(40)}${"]".repeat(40)}}`
  expect(scanJsonText(text, 32)).toEqual({ kind: "depth", limit: 32, offset: text.indexOf("[") + 31 })
})
