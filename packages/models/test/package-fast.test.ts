import { describe, expect, test } from "bun:test"
import { Effect, Result, Schema } from "effect"
import fc from "fast-check"
import { decodePackage, decodeWith, encodePackage, Package, PackageDocument, type ValidationError } from "../src/index"
import { fastEncodePackage } from "../src/package-encode"
import { fastDecodePackage } from "../src/package-fast"
import * as A from "./arbitraries"

// The fast decoder and encoder (package-fast.ts) held against the Schema they stand in for: the
// same value out for every package the Schema accepts (or a refusal to decide), never a value for
// one it rejects. Key order counts (JSON text is compared), because stored and served documents
// are the encoder's output.
const schemaDecode = decodeWith(Package)
const schemaEncode = Schema.encodeSync(Package)
const schema = (input: unknown): Result.Result<Package, ValidationError> =>
  Effect.runSync(Effect.result(schemaDecode(input)))
const json = (u: unknown) => JSON.stringify(u)
const runs = { numRuns: 200 }
// Generated packages take milliseconds each on a loaded machine: give the properties room.
const timeout = 60_000

type Json = null | boolean | number | string | Array<Json> | { [k: string]: Json }
const clone = (u: unknown): Json => JSON.parse(JSON.stringify(u)) as Json

/** Every path to a value inside a JSON document. */
const paths = (doc: Json, at: Array<string | number> = []): Array<Array<string | number>> => {
  const out: Array<Array<string | number>> = [at]
  if (Array.isArray(doc)) doc.forEach((v, i) => out.push(...paths(v, [...at, i])))
  else if (doc !== null && typeof doc === "object") {
    for (const [k, v] of Object.entries(doc)) out.push(...paths(v, [...at, k]))
  }
  return out
}

const replacements: ReadonlyArray<Json> = [
  null,
  7,
  -1,
  1.5,
  70_000,
  4_294_967_296,
  true,
  "",
  "x",
  "Bad Name!",
  "0.1.0",
  "^1.0.0",
  "PORT",
  "a.B",
  [],
  {},
  ["x"],
  { bogus: 1 },
]

type Mutation =
  | { readonly kind: "replace"; readonly value: Json }
  | { readonly kind: "delete" }
  | { readonly kind: "addKey"; readonly key: string }

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constantFrom(...replacements).map((value) => ({ kind: "replace" as const, value })),
  fc.constant({ kind: "delete" as const }),
  fc.constantFrom("bogus", "__proto__", "function_key", "PORT", "x-y").map((key) => ({ kind: "addKey" as const, key })),
)

/** `doc` with `m` applied at `path` (on a copy). */
const mutate = (doc: Json, path: ReadonlyArray<string | number>, m: Mutation): Json => {
  const copy = clone(doc)
  if (path.length === 0) return m.kind === "replace" ? m.value : copy
  let parent = copy as Record<string | number, Json>
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, Json>
  const last = path[path.length - 1]!
  if (m.kind === "replace") parent[last] = m.value
  else if (m.kind === "delete") {
    if (Array.isArray(parent)) parent.splice(last as number, 1)
    else delete parent[last]
  } else {
    const target = parent[last]
    if (target !== null && typeof target === "object" && !Array.isArray(target)) {
      Object.defineProperty(target, m.key, { value: "v", enumerable: true, writable: true, configurable: true })
    }
  }
  return copy
}

describe("fast package decode and encode agree with the Schema", () => {
  test("encoding: the same file form, key for key", () => {
    fc.assert(
      fc.property(A.pkg, (p) => {
        expect(json(fastEncodePackage(p))).toBe(json(schemaEncode(p, { disableChecks: true })))
      }),
      runs,
    )
  }, timeout)

  test("decoding valid packages: the same value, from the file form and from the full form", () => {
    fc.assert(
      fc.property(A.pkg, (p) => {
        for (const input of [clone(schemaEncode(p, { disableChecks: true })), clone(p)]) {
          const expected = schema(input)
          expect(Result.isSuccess(expected)).toBe(true)
          const fast = fastDecodePackage(input)
          expect(fast).toBeDefined()
          expect(json(fast)).toBe(json(Result.getOrThrow(expected)))
          expect(fast).toStrictEqual(Result.getOrThrow(expected))
        }
      }),
      runs,
    )
  }, timeout)

  test("corrupted packages: never accepted when the Schema rejects them, never different when it accepts", () => {
    const corrupted = A.pkg.chain((p) => {
      const doc = clone(schemaEncode(p, { disableChecks: true }))
      return fc.tuple(fc.constant(doc), fc.constantFrom(...paths(doc)), mutation)
    })
    let rejected = 0
    fc.assert(
      fc.property(corrupted, ([doc, path, m]) => {
        const input = mutate(doc, path, m)
        const expected = schema(input)
        const fast = fastDecodePackage(input)
        if (Result.isFailure(expected)) {
          rejected++
          expect(fast).toBeUndefined()
        } else if (fast !== undefined) {
          expect(json(fast)).toBe(json(expected.success))
        }
      }),
      { numRuns: 1500 },
    )
    // The corruptions must mostly be real errors, or the property above proves little.
    expect(rejected).toBeGreaterThan(500)
  }, timeout)

  test("the example shop package takes the fast path, and a broken one gets the Schema's messages", async () => {
    const shop = Bun.YAML.parse(await Bun.file(new URL("../../../examples/shop/package.yaml", import.meta.url)).text())
    expect(fastDecodePackage(shop)).toStrictEqual(Result.getOrThrow(schema(shop)))
    const broken = { ...(shop as object), name: "Bad Name!", classes: [{ key: "" }], bogus: 1 }
    expect(fastDecodePackage(broken)).toBeUndefined()
    const viaPublic = Effect.runSync(Effect.flip(decodePackage(broken)))
    const viaSchema = Effect.runSync(Effect.flip(schemaDecode(broken)))
    expect(viaPublic.violations).toEqual(viaSchema.violations)
    expect(viaPublic.violations.map((v) => v.path)).toEqual(["bogus", "name", "classes[0].key"])
    expect(encodePackage(Result.getOrThrow(schema(shop)))).toEqual(
      schemaEncode(Result.getOrThrow(schema(shop)), { disableChecks: true }),
    )
  })

  test("stored documents (PackageDocument): the Schema's value both ways, its issue for a corrupt one", () => {
    fc.assert(
      fc.property(A.pkg, (p) => {
        const text = JSON.stringify(Schema.encodeSync(PackageDocument)(p))
        expect(text).toBe(json(schemaEncode(p, { disableChecks: true })))
        expect(Schema.decodeUnknownSync(PackageDocument)(JSON.parse(text))).toStrictEqual(
          Schema.decodeUnknownSync(Package)(JSON.parse(text)),
        )
      }),
      { numRuns: 50 },
    )
    // A field from a newer version: not the fast path's to judge, the Schema ignores it as before.
    const newer = { name: "a", version: "1.0.0", futureField: 1 }
    expect(Schema.decodeUnknownSync(PackageDocument)(newer)).toEqual(Schema.decodeUnknownSync(Package)(newer))
    expect(() => Schema.decodeUnknownSync(PackageDocument)({ name: "Bad Name!", version: "1.0.0" })).toThrow(
      "must be a DNS-1123 label",
    )
  })
})
