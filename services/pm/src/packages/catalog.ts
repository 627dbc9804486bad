import { Effect, Option } from "effect"
import {
  type Class,
  type Function as FunctionSpec,
  globalClassKey,
  type Package,
  type Unavailable,
  ValidationError,
} from "@oprc/models"
import { perRevision } from "../storage/answers"
import { PAGE_BYTES, pageLimit } from "../storage/paging"
import type { Packages } from "./Packages"

/** The catalog: every stored package's classes and functions, under their global keys ("<package>.<key>"). */

export interface CatalogClass {
  readonly globalKey: string
  readonly packageName: string
  readonly packageVersion: string
  readonly cls: Class
}

export interface CatalogFunction {
  readonly globalKey: string
  readonly packageName: string
  readonly packageVersion: string
  readonly function: FunctionSpec
}

// Entries are made once per stored revision (a Package object is one revision, storage/answers.ts),
// so the same entry objects come back while a package is unchanged and pages of them can be reused.

/** A package's classes under their global keys, in the package's own order. */
export const classesOf = perRevision((p: Package): ReadonlyArray<CatalogClass> =>
  p.classes.map((cls) => ({
    globalKey: globalClassKey(p.name, cls.key),
    packageName: p.name,
    packageVersion: p.version,
    cls,
  }))
)

/** A package's functions under their global keys, in the package's own order. */
export const functionsOf = perRevision((p: Package): ReadonlyArray<CatalogFunction> =>
  p.functions.map((f) => ({
    globalKey: `${p.name}.${f.key}`,
    packageName: p.name,
    packageVersion: p.version,
    function: f,
  }))
)

export interface CatalogQuery {
  readonly packageName?: string | undefined
  /** 0 / absent: the default page size. */
  readonly limit?: number | undefined
  /** A previous page's nextCursor; "" / absent: the first page. */
  readonly cursor?: string | undefined
}

export interface CatalogPage<A> {
  readonly items: ReadonlyArray<A>
  readonly nextCursor: string | undefined
  /** The stored JSON of the packages read (what the page's items can weigh at most). */
  readonly bytes: number
}

// Order: package name, then the package's own order (as written). The cursor is the last item's
// package and key, so a page boundary survives writes to other packages.
const keyOf = (item: { readonly packageName: string; readonly globalKey: string }) =>
  item.globalKey.slice(item.packageName.length + 1)

const encodeCursor = (p: readonly [string, string]) => Buffer.from(JSON.stringify(p)).toString("base64url")

const decodeCursor = (cursor: string): Effect.Effect<readonly [string, string], ValidationError> => {
  const bad = ValidationError.single("cursor", "is not a cursor returned by a previous listing")
  try {
    const p: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"))
    return Array.isArray(p) && p.length === 2 && typeof p[0] === "string" && typeof p[1] === "string" &&
        encodeCursor([p[0], p[1]]) === cursor
      ? Effect.succeed([p[0], p[1]] as const)
      : Effect.fail(bad)
  } catch {
    return Effect.fail(bad)
  }
}

/** Where a catalog page reads packages from (Packages' scan). */
export interface CatalogSource {
  /** One package by name, with the stored JSON read for it. */
  readonly find: (name: string) => Effect.Effect<Option.Option<{ pkg: Package; bytes: number }>, Unavailable>
  readonly scan: (
    after: string | undefined,
    limit: number,
    maxBytes: number,
  ) => Effect.Effect<
    { readonly items: ReadonlyArray<Package>; readonly more: boolean; readonly bytes: number },
    Unavailable
  >
}

/** The catalog's source over the Packages service. */
export const catalogSource = (packages: Packages["Service"]): CatalogSource => ({
  // The first key with the name as its prefix is the name itself when that package exists (a
  // prefix sorts before every longer key): one store page of one, which says what it read.
  find: (name) =>
    Effect.map(
      packages.scan({ prefix: name, limit: 1, maxBytes: Infinity }),
      (page) => {
        const pkg = page.items[0]
        return pkg !== undefined && pkg.name === name ? Option.some({ pkg, bytes: page.bytes }) : Option.none()
      },
    ),
  scan: (after, limit, maxBytes) => packages.scan({ after, limit, maxBytes }),
})

/** Packages read per store page while a catalog page fills. */
const SCAN_LIMIT = 100

/**
 * One page of the catalog's items (`itemsOf` each package) after `query.cursor`: packages in name
 * order, each package's items in its own order. Packages are read from the store a page at a
 * time, from the cursor's package on, until the page is full, so a page costs what it holds, not
 * what the catalog holds (sorting the whole catalog per request took 28 ms at 10,000 packages).
 * The packages read share `maxBytes` of stored JSON (PAGE_BYTES, as other lists): past it the
 * page ends early with a cursor (fewer than `limit` items, or none).
 */
export const catalogPage = <A extends { readonly packageName: string; readonly globalKey: string }>(
  source: CatalogSource,
  itemsOf: (p: Package) => ReadonlyArray<A>,
  query: CatalogQuery,
  maxBytes = PAGE_BYTES,
): Effect.Effect<CatalogPage<A>, ValidationError | Unavailable> =>
  Effect.gen(function*() {
    const limit = yield* pageLimit(query.limit)
    const after = query.cursor === undefined || query.cursor === "" ? undefined : yield* decodeCursor(query.cursor)
    const only = query.packageName === undefined || query.packageName === "" ? undefined : query.packageName
    // Up to limit + 1 items: one past the page says that more follow.
    const items: Array<A> = []
    const take = (p: Package) => {
      let own = itemsOf(p)
      if (after !== undefined && p.name === after[0]) {
        // After the cursor's item; if it was removed meanwhile, on with the next package.
        const at = own.findIndex((i) => keyOf(i) === after[1])
        own = at >= 0 ? own.slice(at + 1) : []
      }
      for (const item of own) {
        if (items.length > limit) return
        items.push(item)
      }
    }
    /** The last package read when the byte budget ended the page (its items are all taken). */
    let stoppedAt: string | undefined
    let budget = maxBytes
    const found = (name: string) =>
      Effect.map(source.find(name), (p) => {
        if (Option.isNone(p)) return
        budget -= p.value.bytes
        take(p.value.pkg)
      })
    if (only !== undefined) {
      if (after === undefined || after[0] <= only) yield* found(only)
    } else {
      let from = after?.[0]
      // A cursor with an empty key comes after the whole package: it is not read again.
      if (after !== undefined && after[1] !== "") yield* found(after[0])
      if (budget <= 0 && items.length <= limit) stoppedAt = from
      for (let first = true; items.length <= limit && budget > 0; first = false) {
        // Most packages have an item or more: read no more of them than the page could still take.
        const page = yield* source.scan(from, Math.min(SCAN_LIMIT, limit + 1 - items.length), budget)
        // The store gives one package even past the budget; after the first read it waits for the next page.
        if (!first && page.bytes > budget) {
          stoppedAt = from
          break
        }
        for (const p of page.items) {
          take(p)
          from = p.name
          if (items.length > limit) break
        }
        budget -= page.bytes
        if (!page.more) break
        if (budget <= 0 && items.length <= limit) {
          stoppedAt = from
          break
        }
      }
    }
    const page = items.slice(0, limit)
    const last = page[page.length - 1]
    const nextCursor = items.length > limit && last !== undefined
      ? encodeCursor([last.packageName, keyOf(last)])
      : stoppedAt === undefined
      ? undefined
      // Every item of the packages read is on this page: go on after the last of them (no item
      // has an empty key, so the next page takes none of that package).
      : encodeCursor([stoppedAt, ""])
    return { items: page, nextCursor, bytes: maxBytes - budget }
  })
