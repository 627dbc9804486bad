import { Effect } from "effect"
import type { ListOptions, Page, Versioned } from "@oprc/cp-storage"
import { ValidationError } from "@oprc/models"

const DEFAULT_LIMIT = 100
const MAX_LIMIT = 1000
/**
 * The stored text one page may examine: a page ends early, with a cursor, once the documents it
 * read reach it. Documents reach the 4 MiB body limit, so `limit` alone let one answer of 1,000
 * packages grow to gigabytes; a page of 1,000 shop-sized packages (3.2 MB) still fits.
 */
export const PAGE_BYTES = 8 * 1024 * 1024

/** A page size from a request: 0/absent = the default; more than the maximum is an error, not a silent cap. */
export const pageLimit = (limit: number | undefined): Effect.Effect<number, ValidationError> =>
  limit === undefined || limit === 0
    ? Effect.succeed(DEFAULT_LIMIT)
    : Number.isInteger(limit) && limit > 0 && limit <= MAX_LIMIT
    ? Effect.succeed(limit)
    : Effect.fail(ValidationError.single("limit", `must be an integer from 1 to ${MAX_LIMIT}`))

/**
 * One page of the documents that pass `keep`, with the store's own keyset cursors: each storage
 * read asks for exactly as many documents as the page still lacks, so the page always ends on a
 * storage page boundary and the cursor resumes right after the last document examined. The
 * documents examined (kept or not) share `maxBytes` of stored text: past it the page ends with
 * fewer than `limit` items, or none, and a cursor. Clients follow `nextCursor` until it is absent.
 */
export const filteredPage = <A, E>(
  list: (options: ListOptions) => Effect.Effect<Page<A>, E>,
  options: {
    readonly prefix?: string | undefined
    readonly limit: number
    readonly cursor?: string | undefined
    readonly maxBytes?: number | undefined
  },
  keep: (doc: Versioned<A>) => boolean,
): Effect.Effect<
  { readonly items: ReadonlyArray<Versioned<A>>; readonly nextCursor: string | undefined; readonly bytes: number },
  E
> =>
  Effect.gen(function*() {
    const items: Array<Versioned<A>> = []
    let cursor = options.cursor === "" ? undefined : options.cursor
    const maxBytes = options.maxBytes ?? PAGE_BYTES
    let budget = maxBytes
    for (let first = true;; first = false) {
      const wanted = options.limit - items.length
      const page = yield* list({ prefix: options.prefix, limit: wanted, cursor, maxBytes: budget })
      // The store gives at least one document even past the bound; after this answer's first
      // read that one waits for the next page (it is read again there), so the bound holds.
      if (!first && page.bytes > budget) return { items, nextCursor: cursor, bytes: maxBytes - budget }
      items.push(...page.items.filter(keep))
      cursor = page.nextCursor
      budget -= page.bytes
      // Fewer than asked for, with more to come: the store cut the page at the bound.
      const cut = page.items.length < wanted
      if (cursor === undefined || items.length >= options.limit || budget <= 0 || cut) {
        return { items, nextCursor: cursor, bytes: maxBytes - budget }
      }
    }
  })

/** Every document (all pages). */
export const listAll = <A, E>(list: (options: ListOptions) => Effect.Effect<Page<A>, E>, prefix?: string) =>
  Effect.gen(function*() {
    const items: Array<Versioned<A>> = []
    let cursor: string | undefined
    do {
      const page = yield* list({ prefix, limit: MAX_LIMIT, cursor })
      items.push(...page.items)
      cursor = page.nextCursor
    } while (cursor !== undefined)
    return items
  })

/** A name glob ('*' any run, '?' one character) as a test, and the literal prefix storage can filter by. */
export const glob = (pattern: string): { readonly prefix: string; readonly test: (name: string) => boolean } => {
  if (pattern === "" || pattern === "*") return { prefix: "", test: () => true }
  const wild = pattern.search(/[*?]/)
  const prefix = wild < 0 ? pattern : pattern.slice(0, wild)
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")
  const regex = new RegExp(`^${source}$`)
  return { prefix, test: (name) => regex.test(name) }
}
