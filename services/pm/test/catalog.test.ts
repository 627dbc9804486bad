import { describe, expect, test } from "bun:test"
import { Effect, Option } from "effect"
import { decodePackage, type Package } from "@oprc/models"
import { catalogPage, type CatalogSource, classesOf } from "../src/packages/catalog"

// catalogPage over a source whose packages say how many stored bytes they take, so the 8 MiB
// budget of one page can be reached without storing 8 MiB: the store's own paging (after, prefix,
// maxBytes, at least one document) is tested in cp-storage's conformance suite.

const MiB = 1024 * 1024

const pkg = (name: string, classes: ReadonlyArray<string>): Package =>
  Effect.runSync(decodePackage({
    name,
    version: "1.0.0",
    classes: classes.map((key) => ({ key })),
    functions: [{ key: "f" }],
  }))

/** Packages in name order with their stored sizes; scan and find behave as the store's pages do. */
const sourceOf = (packages: ReadonlyArray<{ pkg: Package; bytes: number }>): CatalogSource => ({
  find: (name) => {
    const hit = packages.find((p) => p.pkg.name === name)
    return Effect.succeed(hit === undefined ? Option.none() : Option.some(hit))
  },
  scan: (after, limit, maxBytes) => {
    const rest = packages.filter((p) => after === undefined || p.pkg.name > after)
    const items: Array<Package> = []
    let bytes = 0
    for (const p of rest) {
      if (items.length >= limit || (items.length > 0 && bytes + p.bytes > maxBytes)) break
      items.push(p.pkg)
      bytes += p.bytes
    }
    return Effect.succeed({ items, more: items.length < rest.length, bytes })
  },
})

const pages = (source: CatalogSource, limit: number) =>
  Effect.runPromise(Effect.gen(function*() {
    const out: Array<Array<string>> = []
    let cursor: string | undefined
    do {
      const page = yield* catalogPage(source, classesOf, { limit, cursor })
      out.push(page.items.map((c) => c.globalKey))
      expect(page.bytes).toBeLessThanOrEqual(8 * MiB + 9 * MiB) // the budget, past by one package at most
      cursor = page.nextCursor
    } while (cursor !== undefined && out.length < 20)
    return out
  }))

describe("catalog pages and the byte budget", () => {
  test("a package larger than the whole budget is read once per page that needs it, and paging goes on past it", async () => {
    const source = sourceOf([
      { pkg: pkg("a", ["A1", "A2", "A3"]), bytes: 9 * MiB },
      { pkg: pkg("b", ["B1"]), bytes: 1000 },
      { pkg: pkg("c", ["C1"]), bytes: 1000 },
    ])
    // Page 1: a alone (the store gives one package past the budget) fills it. Page 2: the rest of
    // a, which spends the budget again, so the page ends after it. Page 3: after the whole of a.
    expect(await pages(source, 2)).toEqual([["a.A1", "a.A2"], ["a.A3"], ["b.B1", "c.C1"]])
  })

  test("packages read but not shown count: a page of small packages after large ones ends early", async () => {
    const source = sourceOf([
      { pkg: pkg("a", ["A1"]), bytes: 5 * MiB },
      { pkg: pkg("b", ["B1"]), bytes: 5 * MiB },
      { pkg: pkg("c", ["C1"]), bytes: 100 },
    ])
    expect(await pages(source, 10)).toEqual([["a.A1"], ["b.B1", "c.C1"]])
  })

  test("within the budget, a page is limit items across packages", async () => {
    const source = sourceOf(["p1", "p2", "p3"].map((n) => ({ pkg: pkg(n, ["X", "Y"]), bytes: 100 })))
    expect(await pages(source, 4)).toEqual([["p1.X", "p1.Y", "p2.X", "p2.Y"], ["p3.X", "p3.Y"]])
  })
})
