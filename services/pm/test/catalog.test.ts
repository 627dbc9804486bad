import { afterAll, describe, expect, test } from "bun:test"
import { Effect } from "effect"
import { decodePackage } from "@oprc/models"
import { catalogPage, catalogSource, classesOf } from "../src/packages/catalog"
import { Packages } from "../src/packages/Packages"
import { inMemoryPmRuntime } from "./support"

// catalogPage against its byte budget, over the PM's own Packages service and memory store: the
// budget is scaled down to a few packages (the server's is 8 MiB) so no megabytes need storing.

const runtime = inMemoryPmRuntime()
afterAll(() => runtime.dispose())

/** Packages with these classes; `pad` makes a package's stored JSON that much larger. */
const create = (specs: ReadonlyArray<{ name: string; classes: ReadonlyArray<string>; pad?: number }>) =>
  Effect.gen(function*() {
    const packages = yield* Packages
    for (const s of specs) {
      yield* packages.create(
        yield* decodePackage({
          name: s.name,
          version: "1.0.0",
          metadata: { description: "x".repeat(s.pad ?? 0) },
          classes: s.classes.map((key) => ({ key })),
          functions: [{ key: "f" }],
        }),
      )
    }
  })

/** The stored JSON of one package, as the store counts it. */
const storedBytes = (name: string) =>
  Effect.gen(function*() {
    return (yield* (yield* Packages).scan({ prefix: name, limit: 1, maxBytes: Infinity })).bytes
  })

/** Every page of classes from the first, with this budget; at most 20. */
const pages = (limit: number, maxBytes: number) =>
  Effect.gen(function*() {
    const source = catalogSource(yield* Packages)
    const out: Array<Array<string>> = []
    let cursor: string | undefined
    do {
      const page = yield* catalogPage(source, classesOf, { limit, cursor }, maxBytes)
      out.push(page.items.map((c) => c.globalKey))
      cursor = page.nextCursor
    } while (cursor !== undefined && out.length < 20)
    return out
  })

const run = <A>(e: Effect.Effect<A, unknown, Packages>) => runtime.runPromise(e)

describe("catalog pages and the byte budget", () => {
  test("a package larger than the whole budget is read once per page that needs it, and paging goes on past it", async () => {
    await run(create([
      { name: "bud-a", classes: ["A1", "A2", "A3"], pad: 20_000 },
      { name: "bud-b", classes: ["B1"] },
      { name: "bud-c", classes: ["C1"] },
    ]))
    const big = await run(storedBytes("bud-a"))
    // Page 1: bud-a alone (the store gives one package past the budget) fills it. Page 2: the
    // rest of bud-a, which spends the budget again, so the page ends after it. Page 3: after
    // the whole of bud-a.
    const seen = (await run(pages(2, big - 1))).filter((p) => p.some((k) => k.startsWith("bud-")))
    expect(seen).toEqual([["bud-a.A1", "bud-a.A2"], ["bud-a.A3"], ["bud-b.B1", "bud-c.C1"]])
  })

  test("packages read but not shown count: a page of small packages after large ones ends early", async () => {
    await run(create([
      { name: "cnt-a", classes: ["A1"], pad: 10_000 },
      { name: "cnt-b", classes: ["B1"], pad: 10_000 },
      { name: "cnt-c", classes: ["C1"] },
    ]))
    const large = await run(storedBytes("cnt-a"))
    // Within 1.5 large packages: cnt-a, then cnt-b would pass it, so it opens the next page.
    const seen = (await run(pages(10, large * 1.5))).map((p) => p.filter((k) => k.startsWith("cnt-")))
      .filter((p) => p.length > 0)
    expect(seen).toEqual([["cnt-a.A1"], ["cnt-b.B1", "cnt-c.C1"]])
  })

  test("within the budget, a page is limit items across packages", async () => {
    await run(create(["lim-1", "lim-2", "lim-3"].map((name) => ({ name, classes: ["X", "Y"] }))))
    const seen = (await run(pages(1000, 8 * 1024 * 1024))).flat().filter((k) => k.startsWith("lim-"))
    expect(seen).toEqual(["lim-1.X", "lim-1.Y", "lim-2.X", "lim-2.Y", "lim-3.X", "lim-3.Y"])
    const fours = await run(Effect.gen(function*() {
      return yield* catalogPage(catalogSource(yield* Packages), classesOf, { limit: 4 }, 8 * 1024 * 1024)
    }))
    expect(fours.items).toHaveLength(4)
  })
})
