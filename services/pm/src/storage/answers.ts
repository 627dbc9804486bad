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
}

/**
 * One answer per page: the same object while the query and every item on the page are the same
 * objects (any write to an item, or a new or removed one, makes it a new page). Pages hold their
 * items strongly, so they are bounded: at most `budget` items over all pages, least recent first out.
 */
export const perPage = <I extends object, V>(
  build: (items: ReadonlyArray<I>, next: string | undefined) => V,
  budget = 2000,
) => {
  const pages = new Map<string, PageEntry<I, V>>()
  let held = 0
  const same = (e: PageEntry<I, V>, items: ReadonlyArray<I>, next: string | undefined) =>
    e.next === next && e.items.length === items.length && e.items.every((item, i) => item === items[i])
  return (query: string, items: ReadonlyArray<I>, next: string | undefined): V => {
    const hit = pages.get(query)
    if (hit !== undefined) {
      pages.delete(query)
      held -= hit.items.length
    }
    const entry = hit !== undefined && same(hit, items, next) ? hit : { items, next, answer: build(items, next) }
    if (entry.items.length <= budget) {
      pages.set(query, entry)
      held += entry.items.length
      for (const [key, old] of pages) {
        if (held <= budget) break
        pages.delete(key)
        held -= old.items.length
      }
    }
    return entry.answer
  }
}
