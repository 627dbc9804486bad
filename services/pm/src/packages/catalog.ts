import { Effect } from "effect"
import { type Class, type Function as FunctionSpec, globalClassKey, type Package, ValidationError } from "@oprc/models"
import { pageLimit } from "../storage/paging"

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

const of = (packages: ReadonlyArray<Package>, packageName: string | undefined) =>
  packageName === undefined || packageName === "" ? packages : packages.filter((p) => p.name === packageName)

export const catalogClasses = (packages: ReadonlyArray<Package>, packageName?: string): ReadonlyArray<CatalogClass> =>
  of(packages, packageName).flatMap((p) =>
    p.classes.map((cls) => ({
      globalKey: globalClassKey(p.name, cls.key),
      packageName: p.name,
      packageVersion: p.version,
      cls,
    }))
  )

export const catalogFunctions = (
  packages: ReadonlyArray<Package>,
  packageName?: string,
): ReadonlyArray<CatalogFunction> =>
  of(packages, packageName).flatMap((p) =>
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

/** One page of `items` (packages' items in their own order) after `query.cursor`. */
export const catalogPage = <A extends { readonly packageName: string; readonly globalKey: string }>(
  items: ReadonlyArray<A>,
  query: CatalogQuery,
): Effect.Effect<CatalogPage<A>, ValidationError> =>
  Effect.gen(function*() {
    const limit = yield* pageLimit(query.limit)
    const after = query.cursor === undefined || query.cursor === "" ? undefined : yield* decodeCursor(query.cursor)
    // A stable sort: items keep their order within a package.
    const ordered = [...items].sort((
      a,
      b,
    ) => (a.packageName < b.packageName ? -1 : a.packageName > b.packageName ? 1 : 0))
    let start = 0
    if (after !== undefined) {
      const hit = ordered.findIndex((i) => i.packageName === after[0] && keyOf(i) === after[1])
      // The last item was removed meanwhile: go on with the next package.
      start = hit >= 0 ? hit + 1 : ordered.findIndex((i) => i.packageName > after[0])
      if (start < 0) start = ordered.length
    }
    const page = ordered.slice(start, start + limit)
    const last = page[page.length - 1]
    const more = start + limit < ordered.length
    return {
      items: page,
      nextCursor: more && last !== undefined ? encodeCursor([last.packageName, keyOf(last)]) : undefined,
    }
  })
