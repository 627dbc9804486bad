import { Effect, Option, Schema, Stream } from "effect"
import { type Change, type DocumentCollection, StorageError, type Versioned } from "@oprc/cp-storage"

const LIMIT = 20_000

/** The part of a cp-storage collection the PM uses. */
export type Collection<A> = Pick<DocumentCollection<A>, "kind" | "get" | "list" | "create" | "update" | "upsert" | "delete" | "watch" | "subscribe">

/**
 * A typed collection over a JSON one, decoding each stored revision once. Decoding a package
 * (every field, every cross-reference check) costs far more than serving it, and a stored
 * revision never changes, so documents are decoded on first sight and reused until their
 * revision moves. Writes encode once and remember what they wrote.
 */
export const memoized = <A, I>(raw: Collection<unknown>, schema: Schema.Codec<A, I>): Collection<A> => {
  const decodeUnknown = Schema.decodeUnknownEffect(schema)
  const encode = Schema.encodeEffect(schema)
  const memo = new Map<string, Versioned<A>>()

  const remember = (v: Versioned<A>): Versioned<A> => {
    memo.delete(v.key)
    memo.set(v.key, v)
    // Map iteration is insertion order: the first key is the least recently used.
    if (memo.size > LIMIT) memo.delete(memo.keys().next().value!)
    return v
  }

  const decode = (v: Versioned<unknown>): Effect.Effect<Versioned<A>, StorageError> => {
    const hit = memo.get(v.key)
    if (hit !== undefined && hit.revision === v.revision) return Effect.succeed(hit)
    return decodeUnknown(v.value).pipe(
      Effect.map((value) => remember({ key: v.key, value, revision: v.revision, createRevision: v.createRevision })),
      Effect.mapError((e) => new StorageError({ reason: `stored ${raw.kind} "${v.key}" does not decode: ${e.message}`, retryable: false })),
    )
  }

  const encoded = (key: string, value: A) =>
    encode(value).pipe(
      Effect.mapError((e) => new StorageError({ reason: `${raw.kind} "${key}" does not encode: ${e.message}`, retryable: false })),
    )

  const decodeChange = (c: Change<unknown>): Effect.Effect<Change<A>, StorageError> => {
    if (c._tag === "Delete") {
      memo.delete(c.key)
      return Effect.succeed(c)
    }
    return Effect.map(decode(c.item), (item) => ({ _tag: "Put", item }))
  }

  const written = (value: A) => (v: Versioned<unknown>) => remember({ key: v.key, value, revision: v.revision, createRevision: v.createRevision })

  return {
    kind: raw.kind,
    get: (key) => Effect.flatMap(raw.get(key), Option.match({ onNone: () => Effect.succeedNone, onSome: (v) => Effect.map(decode(v), Option.some) })),
    list: (options) =>
      Effect.flatMap(raw.list(options), (page) =>
        Effect.map(Effect.forEach(page.items, decode), (items) => ({ items, nextCursor: page.nextCursor }))),
    create: (key, value) => Effect.flatMap(encoded(key, value), (e) => Effect.map(raw.create(key, e), written(value))),
    update: (key, value, expected) => Effect.flatMap(encoded(key, value), (e) => Effect.map(raw.update(key, e, expected), written(value))),
    upsert: (key, value) => Effect.flatMap(encoded(key, value), (e) => Effect.map(raw.upsert(key, e), written(value))),
    delete: (key, expected) => Effect.tap(raw.delete(key, expected), () => Effect.sync(() => memo.delete(key))),
    watch: (options) => raw.watch(options).pipe(Stream.mapEffect(decodeChange)),
    subscribe: (options) => Effect.map(raw.subscribe(options), (changes) => changes.pipe(Stream.mapEffect(decodeChange))),
  }
}
