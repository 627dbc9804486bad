import { describe, expect, test } from "bun:test"
import { Effect, Layer, Result } from "effect"
import fc from "fast-check"
import { availableParallelism, loadavg } from "node:os"
import {
  checkObjectEntries,
  checkShape,
  decodeCollection,
  decodePackage,
  defaultPackageLimits,
  depthExceeded,
  loadPackageFile,
  MAX_VIOLATIONS,
  PackageLimits,
  packageShape,
  parsePackageText,
  scanJson,
  type ValidationError,
  Violations,
  yamlFlowTooDeep,
} from "../src/index"

const failure = <A>(effect: Effect.Effect<A, ValidationError>): ValidationError => {
  const r = Effect.runSync(Effect.result(effect))
  if (Result.isSuccess(r)) throw new Error("expected a ValidationError")
  return r.failure
}

// Time bounds hold on a quiet machine; on a loaded one CPU work takes longer by about load/cores.
const slowdown = () => Math.max(1, loadavg()[0]! / availableParallelism())

const timed = <A>(f: () => A): { value: A; ms: number } => {
  const t = performance.now()
  const value = f()
  return { value, ms: performance.now() - t }
}

describe("bounded validation of packages", () => {
  test("a 1 M-tag JSON package is refused in well under a second, with one violation", () => {
    const text = JSON.stringify({
      name: "big",
      version: "1.0.0",
      metadata: { tags: Array.from({ length: 1_000_000 }, (_, i) => i) },
    })
    expect(text.length).toBeGreaterThan(3_000_000)
    const { value: e, ms } = timed(() => failure(parsePackageText(text, "application/json")))
    expect(e.violations).toEqual([{ path: "metadata.tags", message: "has 1000000 items; at most 64 are allowed" }])
    expect(ms).toBeLessThan(800 * slowdown()) // JSON.parse of 7 MB is most of it; ~3 s before the pre-pass
  })

  test("the YAML form too, before the slow YAML parser runs", () => {
    const text = "name: big\nversion: 1.0.0\nmetadata:\n  tags:\n" + "    - 1\n".repeat(500_000)
    const { value: e, ms } = timed(() => failure(parsePackageText(text, "application/yaml")))
    expect(e.violations).toEqual([{ path: "metadata.tags", message: "has 500000 items; at most 64 are allowed" }])
    expect(ms).toBeLessThan(800 * slowdown()) // the `yaml` package alone takes ~4 s on this document
  })

  test("YAML nested 1 M levels is refused fast, not parsed for seconds", () => {
    const flow = "a: " + "[".repeat(1_000_000) + "]".repeat(1_000_000)
    const { value: e, ms } = timed(() => failure(loadPackageFile(flow, "yaml")))
    expect(e.violations).toEqual([{ path: "", message: "YAML is nested deeper than 32 levels" }])
    expect(ms).toBeLessThan(300 * slowdown())
    const block = Array.from({ length: 40 }, (_, i) => `${"  ".repeat(i)}k${i}:`).join("\n") + " 1\n"
    expect(failure(loadPackageFile(block, "yaml")).violations[0]?.message).toBe("is nested deeper than 32 levels")
  })

  test("JSON nested 100 k levels is a 400, not a stack overflow", () => {
    const deep = "[".repeat(100_000) + "]".repeat(100_000)
    const e = failure(
      parsePackageText(`{"name":"x","version":"1.0.0","metadata":{"tags":${deep}}}`, "application/json"),
    )
    expect(e.violations.length).toBe(1)
    expect(e.violations[0]!.message).toMatch(/nested (deeper than 32 levels|too deeply)/)
  })

  test("YAML alias bombs are refused", () => {
    const lines = ["a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]"]
    for (let i = 1; i < 9; i++) {
      lines.push(`${"abcdefghi"[i]}: &${"abcdefghi"[i]} [${Array(9).fill(`*${"abcdefghi"[i - 1]}`).join(",")}]`)
    }
    const e = failure(loadPackageFile(lines.join("\n"), "yaml"))
    expect(e.violations.length).toBe(1)
  })

  test("counts per list are checked with their paths, every one once", () => {
    const e = failure(decodePackage({
      name: "p",
      version: "1.0.0",
      classes: [{ key: "A", bindings: Array.from({ length: 129 }, (_, i) => ({ name: `b${i}`, function: "f" })) }],
      functions: [{ key: "f", config: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`K${i}`, "v"])) }],
      metadata: { labels: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`l${i}`, "v"])) },
    }))
    expect(e.violations).toEqual([
      { path: "classes[0].bindings", message: "has 129 items; at most 128 are allowed" },
      { path: "functions[0].config", message: "has 300 entries; at most 256 are allowed" },
      { path: "metadata.labels", message: "has 65 entries; at most 64 are allowed" },
    ])
  })

  test("at most 100 violations plus a count of the rest, and the message does not repeat them all", () => {
    const classes = Array.from(
      { length: 250 },
      (_, i) => ({ key: `C${i}`, bindings: [{ name: "x", function: "missing" }] }),
    )
    const e = failure(decodePackage({ name: "p", version: "1.0.0", classes }))
    expect(e.violations.length).toBe(MAX_VIOLATIONS + 1)
    expect(e.violations[MAX_VIOLATIONS]).toEqual({ path: "", message: "and 150 more violations not listed" })
    expect(e.message.length).toBeLessThan(2000)
  })

  test("limits are configurable through the PackageLimits reference", () => {
    const pkg = { name: "p", version: "1.0.0", metadata: { tags: ["a", "b", "c"] } }
    expect(Effect.runSync(Effect.result(decodePackage(pkg)))._tag).toBe("Success")
    const tight = Layer.succeed(PackageLimits, { ...defaultPackageLimits, maxTags: 2 })
    const e = failure(decodePackage(pkg).pipe(Effect.provide(tight)))
    expect(e.violations).toEqual([{ path: "metadata.tags", message: "has 3 items; at most 2 are allowed" }])
  })

  test("a collection with 1 M bad triggers is one violation, fast", () => {
    const triggers = Array.from({ length: 1_000_000 }, () => ({ event: "NOPE", source: "", target: {} }))
    failure(decodeCollection({ name: "p.C", triggers: [] as Array<unknown>, functions: 1 })) // warm-up
    const { value: e, ms } = timed(() => failure(decodeCollection({ name: "p.C", triggers })))
    expect(e.violations).toEqual([{ path: "triggers", message: "has 1000000 items; at most 256 are allowed" }])
    expect(ms).toBeLessThan(200 * slowdown())
  })
})

describe("shape limits by path pattern", () => {
  const shape = (input: unknown, items: Record<string, number>) => {
    const out = new Violations()
    checkShape(input, { ...packageShape(defaultPackageLimits), maxItems: 5, items }, out)
    return out.list
  }
  const over = (path: string) => [{ path, message: "has 2 items; at most 1 are allowed" }]

  test("a pattern names keys, list items as [], and the root's keys without a dot", () => {
    expect(shape({ a: { tags: [1, 2] } }, { "a.tags": 1 })).toEqual(over("a.tags"))
    expect(shape({ a: [[1, 2]] }, { "a[]": 1 })).toEqual(over("a[0]"))
    expect(shape([[[1, 2]]], { "[][]": 1 })).toEqual(over("[0][0]"))
    expect(shape({ a: [1, 2] }, { a: 1 })).toEqual(over("a"))
  })

  test("the pattern is the keys joined, so a key holding a dot or [] matches as its parts would", () => {
    expect(shape({ "a.tags": [1, 2] }, { "a.tags": 1 })).toEqual(over(`["a.tags"]`))
    expect(shape({ a: { "[]": [1, 2] } }, { "a.[]": 1 })).toEqual(over(`a["[]"]`))
    // Below an empty key the pattern is empty too: its keys take no dot.
    expect(shape({ "": { b: [1, 2] } }, { b: 1 })).toEqual(over(`[""].b`))
  })

  test("a prefix, a longer key or a deeper container is not the pattern", () => {
    expect(shape({ ab: { tags: [1, 2] }, a: { tagsx: [1, 2], tags: { x: [1, 2] } } }, { "a.tags": 1 })).toEqual([])
    expect(shape({ a: { tags: [[1, 2]] } }, { "a.tags": 1, "a.tags[][]": 1 })).toEqual([])
  })
})

describe("object entries", () => {
  const nest = (n: number): unknown => {
    let v: unknown = 1
    for (let i = 0; i < n; i++) v = { d: v }
    return v
  }
  test("depth: 32 levels are fine, 33 are refused with the path, 100 k do not overflow", () => {
    expect(Effect.runSync(Effect.result(checkObjectEntries({ ok: nest(32) })))._tag).toBe("Success")
    const e = failure(checkObjectEntries({ ok: nest(2), bad: nest(33) }))
    expect(e.violations).toEqual([{
      path: `entries.bad${".d".repeat(32)}`,
      message: "is nested deeper than 32 levels (limits.maxEntryDepth); function runtimes cannot take such state",
    }])
    expect(depthExceeded(nest(100_000), 32)?.length).toBe(32)
  })
  test("key names: no NUL, control characters, whitespace, lone surrogates or U+FFFD", () => {
    for (const k of ["a\u0000b", "tab\tkey", "\u007f", "x\ud800", "bad\ufffd", ""]) {
      expect(failure(checkObjectEntries({ [k]: 1 })).violations.length).toBe(1)
    }
    expect(Effect.runSync(Effect.result(checkObjectEntries({ "ünï-cødé": 1, "emoji-😀": 2 })))._tag).toBe("Success")
  })
})

describe("large packages are decoded in slices", () => {
  const big = (bindings: number, fn = "f1") => ({
    name: "big",
    version: "1.0.0",
    functions: Array.from({ length: 40 }, (_, i) => ({ key: `f${i}` })),
    classes: Array.from(
      { length: 100 },
      (_, c) => ({
        key: `C${c}`,
        bindings: Array.from({ length: bindings }, (_, b) => ({ name: `b${b}`, function: fn })),
      }),
    ),
  })
  test("with the same result as decoding the whole package at once", async () => {
    const { Schema } = await import("effect")
    const { Package } = await import("../src/index")
    const input = big(20)
    expect(Effect.runSync(decodePackage(input))).toEqual(Schema.decodeUnknownSync(Package)(input))
  })
  test("and the same violations, with their paths", () => {
    const input = big(2, "nope") as {
      classes: Array<{ key: string; bindings: Array<{ name: string; function: string }> }>
    }
    input.classes[3]!.key = "bad key"
    const e = failure(decodePackage(input))
    expect(e.violations[0]).toEqual({
      path: "classes[3].key",
      message: "must start with a letter and contain only letters, digits, '_' and '-' (at most 63 characters)",
    })
    const refs = failure(decodePackage(big(2, "nope")))
    expect(refs.violations[0]).toEqual({
      path: "classes[0].bindings[0].function",
      message: `function "nope" is not defined in this package`,
    })
    expect(refs.violations.length).toBe(MAX_VIOLATIONS + 1)
  })
})

describe("text scans before parsing", () => {
  const limits = { ...packageShape(defaultPackageLimits), maxItems: 3, items: { "a.tags": 2 }, maxDepth: 4 }
  test("JSON: the first list or map over its limit, with its size and path; strings do not count", () => {
    expect(scanJson(JSON.stringify({ a: { tags: ["x,", "]", "\"[,"] } }), limits)).toEqual({
      path: "a.tags",
      message: "has 3 items; at most 2 are allowed",
    })
    expect(scanJson(JSON.stringify({ a: { tags: ["x", "y"] }, b: [1, [1, 2, 3, 4]] }), limits)).toEqual({
      path: "b[1]",
      message: "has 4 items; at most 3 are allowed",
    })
    expect(scanJson(JSON.stringify({ m: { a: 1, b: 2, c: 3, d: 4 } }), limits)).toEqual({
      path: "m",
      message: "has 4 entries; at most 3 are allowed",
    })
    expect(scanJson(JSON.stringify({ "k\\\"": [[[[1]]]] }), limits)?.message).toBe("is nested deeper than 4 levels")
    expect(scanJson(JSON.stringify({ a: { tags: ["x", "y"] }, b: [1, 2, { c: "[[[[[" }] }), limits)).toBeUndefined()
  })
  test("JSON: agrees with the shape check on random documents", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
        const out = new Violations()
        checkShape(
          v,
          { ...limits, maxStringLength: Number.MAX_SAFE_INTEGER, maxKeyLength: Number.MAX_SAFE_INTEGER },
          out,
        )
        const scanned = scanJson(JSON.stringify(v), limits)
        // The same verdict (the scan may name another of the offending lists: it stops at the first to close).
        expect(scanned === undefined).toBe(out.size === 0)
      }),
      { numRuns: 500 },
    )
  })
  test("YAML: flow nesting, ignoring quoted scalars and comments", () => {
    expect(yamlFlowTooDeep("a: [[[[[1]]]]]", 4)).toBe(true)
    expect(yamlFlowTooDeep("a: [[[[1]]]]\nb: [[[[2]]]]", 4)).toBe(false)
    expect(yamlFlowTooDeep("a: '[[[[['\nb: \"{{{{{\" # [[[[[\nc: don't [x]", 4)).toBe(false)
  })
})

describe("broken large YAML", () => {
  test("is refused by the fast parser's verdict, without running the slow one", () => {
    const { value: e, ms } = timed(() => failure(loadPackageFile("name: " + "- ".repeat(1_000_000) + "x", "yaml")))
    expect(e.violations.length).toBe(1)
    expect(e.violations[0]!.message).toStartWith("YAML syntax error: ")
    expect(ms).toBeLessThan(300 * slowdown()) // 3.3 s through the `yaml` package
  })
})
