import { describe, expect, test } from "bun:test"
import { Effect, Option } from "effect"
import { makeMemoryBackend } from "../src/MemoryBackend.ts"
import type { RawBackend } from "../src/internal/backend.ts"
import { makeControlPlaneStore, type MemoLimits } from "../src/internal/typed.ts"
import { Thing, thing } from "./conformance.ts"

// The memo's bound is seen through the store's contract: a revision it keeps is read as the same
// object again; one it let go of is decoded again, to an equal but new object.

/** The stored text of `thing(name, count)` (Thing stores its tag as a string). */
const storedLength = (name: string, count: number) =>
  JSON.stringify({ ...thing(name, count), tag: `${count * 10}` }).length

const withCollection = <A>(
  limits: MemoLimits,
  body: (c: ReturnType<typeof collectionOf>) => Effect.Effect<A, unknown>,
) => Effect.runPromise(Effect.flatMap(makeMemoryBackend, (raw) => body(collectionOf(raw, limits))).pipe(Effect.scoped))
const collectionOf = (raw: RawBackend, limits: MemoLimits) =>
  makeControlPlaneStore(raw, limits).collection("things", Thing)

describe("the decoded-document memo", () => {
  test("keeps at most its budget of stored bytes, letting the longest-decoded go first", () =>
    withCollection({ count: 100, bytes: 3 * storedLength("d1", 1) }, (c) =>
      Effect.gen(function*() {
        for (const k of ["d1", "d2", "d3", "d4"]) yield* c.create(k, thing(k, 1))
        const read = (k: string) => Effect.map(c.get(k), Option.getOrThrow)
        const d1 = yield* read("d1")
        const d2 = yield* read("d2")
        yield* read("d3")
        expect(yield* read("d1")).toBe(d1) // three fit
        yield* read("d4") // a fourth: d1, decoded first, goes
        const again = yield* read("d1")
        expect(again).not.toBe(d1)
        expect(again).toEqual(d1)
        // Reading d1 again took d2's place.
        expect(yield* read("d2")).not.toBe(d2)
      })))

  test("keeps at most its count of documents", () =>
    withCollection({ count: 2, bytes: 1024 * 1024 }, (c) =>
      Effect.gen(function*() {
        for (const k of ["n1", "n2", "n3"]) yield* c.create(k, thing(k, 1))
        const read = (k: string) => Effect.map(c.get(k), Option.getOrThrow)
        const n1 = yield* read("n1")
        const n2 = yield* read("n2")
        expect(yield* read("n1")).toBe(n1)
        yield* read("n3")
        expect(yield* read("n1")).not.toBe(n1)
        expect(yield* read("n3")).toBe(yield* read("n3"))
        expect(n2.value).toEqual(thing("n2", 1))
      })))

  test("does not keep a document larger than the whole budget, and still reads it", () =>
    withCollection({ count: 100, bytes: storedLength("big", 1) - 1 }, (c) =>
      Effect.gen(function*() {
        yield* c.create("big", thing("big", 1))
        const first = Option.getOrThrow(yield* c.get("big"))
        const second = Option.getOrThrow(yield* c.get("big"))
        expect(second).not.toBe(first)
        expect(second.value).toEqual(thing("big", 1))
      })))
})
