/**
 * Answers kept with what they are built from, so a read that finds the same stored revision
 * returns the same answer object, and the server (packages/rpc's answer cache) sends the bytes it
 * encoded the first time. Every stored revision is one immutable object (cp-storage decodes each
 * once; Packages adds its revision once), so object identity is the revision's identity: a write
 * or a delete makes a new object or none, and an answer can never outlive what it shows.
 */

/** One answer per object, held weakly: it goes when the store lets go of the revision. */
export const perRevision = <K extends object, V>(build: (key: K) => V): (key: K) => V => {
  const answers = new WeakMap<K, V>()
  return (key) => {
    let answer = answers.get(key)
    if (answer === undefined) answers.set(key, answer = build(key))
    return answer
  }
}

interface PageEntry<I, V> {
  readonly items: ReadonlyArray<I>
  readonly next: string | undefined
  readonly answer: V
  /** The stored bytes the page was read from (what its items can weigh at most). */
  readonly bytes: number
}

/** How much all kept pages of one cache may hold. */
export interface PageBudget {
  readonly items: number
  /** Stored bytes the pages were read from (Page.bytes): a count alone let 2,000 large documents stay. */
  readonly bytes: number
}
const defaultPageBudget: PageBudget = { items: 2000, bytes: 64 * 1024 * 1024 }

/**
 * One answer per page: the same object while the query and every item on the page are the same
 * objects (any write to an item, or a new or removed one, makes it a new page). Pages hold their
 * items strongly, so they are bounded by `budget` over all pages (items, and the stored bytes
 * they were read from), least recent first out; a page over the whole budget is answered, not kept.
 */
export const perPage = <I extends object, V>(
  build: (items: ReadonlyArray<I>, next: string | undefined) => V,
  budget: PageBudget = defaultPageBudget,
) => {
  const pages = new Map<string, PageEntry<I, V>>()
  let heldItems = 0
  let heldBytes = 0
  const same = (e: PageEntry<I, V>, items: ReadonlyArray<I>, next: string | undefined) =>
    e.next === next && e.items.length === items.length && e.items.every((item, i) => item === items[i])
  const drop = (key: string, e: PageEntry<I, V>) => {
    pages.delete(key)
    heldItems -= e.items.length
    heldBytes -= e.bytes
  }
  return (query: string, items: ReadonlyArray<I>, next: string | undefined, bytes: number): V => {
    const hit = pages.get(query)
    if (hit !== undefined) drop(query, hit)
    const entry = hit !== undefined && same(hit, items, next)
      ? hit
      : { items, next, answer: build(items, next), bytes }
    if (entry.items.length <= budget.items && entry.bytes <= budget.bytes) {
      pages.set(query, entry)
      heldItems += entry.items.length
      heldBytes += entry.bytes
      for (const [key, old] of pages) {
        if (heldItems <= budget.items && heldBytes <= budget.bytes) break
        drop(key, old)
      }
    }
    return entry.answer
  }
}
