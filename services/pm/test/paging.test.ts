import { describe, expect, test } from "bun:test"
import { Effect, Schema } from "effect"
import { ControlPlaneStore } from "@oprc/cp-storage"
import { filteredPage } from "../src/storage/paging"

// A page answered to a client is bounded by the stored text it examines, not only by its count:
// past the bound it ends early, with a cursor, and following the cursors still visits every match once.

const Doc = Schema.Struct({ n: Schema.Number })
const SIZE = JSON.stringify({ n: 1 }).length

/** Five documents of SIZE bytes, k1..k5; `body` gets the collection's list. */
const withDocs = <A>(
  body: (list: Parameters<typeof filteredPage<{ n: number }, unknown>>[0]) => Effect.Effect<A, unknown>,
) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const c = (yield* ControlPlaneStore).collection("docs", Doc)
      for (let n = 1; n <= 5; n++) yield* c.create(`k${n}`, { n })
      return yield* body(c.list)
    }).pipe(Effect.scoped, Effect.provide(ControlPlaneStore.layerMemory)),
  )

/** Every page from the first, following nextCursor. */
const allPages = (
  list: Parameters<typeof filteredPage<{ n: number }, unknown>>[0],
  options: { limit: number; maxBytes: number },
  keep: (n: number) => boolean,
) =>
  Effect.gen(function*() {
    const pages: Array<Array<string>> = []
    let cursor: string | undefined
    do {
      const page = yield* filteredPage(list, { ...options, cursor }, (d) => keep(d.value.n))
      pages.push(page.items.map((d) => d.key))
      cursor = page.nextCursor
    } while (cursor !== undefined)
    return pages
  })

describe("filteredPage", () => {
  test("ends a page where the store cut it at the bound", () =>
    withDocs((list) =>
      Effect.gen(function*() {
        expect(yield* allPages(list, { limit: 10, maxBytes: 2.5 * SIZE }, () => true)).toEqual([
          ["k1", "k2"],
          ["k3", "k4"],
          ["k5"],
        ])
      })
    ))

  test("counts the documents it examined and left out, and keeps a document past the bound for the next page", () =>
    withDocs((list) =>
      Effect.gen(function*() {
        // Odd ones kept, two wanted: k1, k2 are read (k2 left out), half a document of budget is
        // left, so k3, which would pass it, opens the next page instead.
        expect(yield* allPages(list, { limit: 2, maxBytes: 2.5 * SIZE }, (n) => n % 2 === 1)).toEqual([
          ["k1"],
          ["k3"],
          ["k5"],
        ])
      })
    ))

  test("always makes progress: a page holds its first document even when that alone passes the bound", () =>
    withDocs((list) =>
      Effect.gen(function*() {
        expect(yield* allPages(list, { limit: 10, maxBytes: 1 }, () => true)).toEqual([
          ["k1"],
          ["k2"],
          ["k3"],
          ["k4"],
          ["k5"],
        ])
      })
    ))

  test("without a bound in reach, the page is as before: limit items and the store's cursor", () =>
    withDocs((list) =>
      Effect.gen(function*() {
        expect(yield* allPages(list, { limit: 2, maxBytes: 1024 }, (n) => n !== 2)).toEqual([["k1", "k3"], [
          "k4",
          "k5",
        ]])
      })
    ))
})
