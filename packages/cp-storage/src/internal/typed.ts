import { Effect, Option, References, Schema, Stream } from "effect"
import { StorageError, ValidationError } from "@oprc/models"
import { tracedFn } from "@oprc/observability"
import type {
  Change,
  ControlPlaneStore,
  DocumentCollection,
  ListOptions,
  Versioned,
  WatchOptions,
} from "../DocumentStore.ts"
import type { RawBackend, RawDoc } from "./backend.ts"

// Kinds become path segments of etcd keys and SQLite rows; a "/" would make kinds overlap.
const KIND = /^[a-z0-9][a-z0-9_-]*$/

// Keyset cursor: the last key returned. Stable while others write (no offsets shift).
const encodeCursor = (key: string): string => Buffer.from(key, "utf8").toString("base64url")
const decodeCursor = (cursor: string): string | undefined => {
  const key = Buffer.from(cursor, "base64url").toString("utf8")
  return cursor.length > 0 && encodeCursor(key) === cursor ? key : undefined
}

/**
 * How many decoded documents a collection keeps (see `memo`), by count and by the length of their
 * stored JSON. A count alone did not bound memory: documents reach the 4 MiB body limit, and a
 * decoded one takes about twice its stored text (6.6 KB for the 3.2 KB shop package). The default
 * keeps 10,000 shop-sized packages, the catalog bench/pm/growth.ts reads, well inside the bytes.
 */
export interface MemoLimits {
  readonly count: number
  /** Stored text (UTF-16 code units, bytes for ASCII JSON) of the documents kept. */
  readonly bytes: number
}
const defaultMemoLimits: MemoLimits = { count: 20_000, bytes: 64 * 1024 * 1024 }

const corrupt = (kind: string, key: string, cause: unknown) =>
  new StorageError({ reason: `stored ${kind} "${key}" does not decode: ${String(cause)}`, retryable: false })

const checkKey = (key: string): Effect.Effect<void, StorageError> =>
  key.length === 0 || key.includes("\u0000")
    ? Effect.fail(new StorageError({ reason: `invalid document key ${JSON.stringify(key)}`, retryable: false }))
    : Effect.void

function makeCollection<A, I>(
  raw: RawBackend,
  kind: string,
  schema: Schema.Codec<A, I>,
  limits: MemoLimits,
): DocumentCollection<A> {
  const encode = (key: string, value: A): Effect.Effect<string, StorageError> =>
    // `value` is already of type A (it was decoded, with every check, on its way in); re-running
    // the checks on encode doubled the CPU cost of a write for nothing.
    Schema.encodeEffect(schema)(value, { disableChecks: true }).pipe(
      Effect.flatMap((encoded) => Effect.try({ try: () => JSON.stringify(encoded), catch: (e) => e })),
      Effect.mapError((e) =>
        new StorageError({ reason: `${kind} "${key}" does not encode: ${String(e)}`, retryable: false })
      ),
    )
  // A stored revision never changes, and decoding (JSON.parse plus the whole Schema with its
  // cross-checks) costs far more than serving a document: decode each revision once and reuse it
  // until the key's revision moves. Bounded by `limits` (count and stored bytes): Map order makes
  // the first key the one decoded longest ago, the first to go; a document larger than the whole
  // budget is decoded on every read, not kept.
  // Only what is read is kept: a write forgets the key's old revision and does not remember its
  // own. Remembering writes kept a decoded copy (6.6 KB for the shop package) of every document
  // written and never read, and the growing heap made creates ~14 % dearer (measured on etcd, c50);
  // the first read of a written revision decodes it once instead.
  // (`sizes` has the same keys in the same order; the hot read looks only at `memo`.)
  const memo = new Map<string, Versioned<A>>()
  const sizes = new Map<string, number>()
  let heldBytes = 0
  const forget = (key: string) => {
    const size = sizes.get(key)
    if (size === undefined) return
    sizes.delete(key)
    memo.delete(key)
    heldBytes -= size
  }
  const remember = (v: Versioned<A>, bytes: number): Versioned<A> => {
    forget(v.key)
    if (bytes > limits.bytes) return v
    memo.set(v.key, v)
    sizes.set(v.key, bytes)
    heldBytes += bytes
    while (memo.size > limits.count || heldBytes > limits.bytes) forget(memo.keys().next().value!)
    return v
  }
  /** A write's result, not remembered (see `memo`); the key's older revision is dropped. */
  const written = (key: string, value: A, doc: RawDoc): Versioned<A> => {
    forget(key)
    return { key, value, revision: doc.revision, createRevision: doc.createRevision }
  }
  const decode = (doc: RawDoc): Effect.Effect<Versioned<A>, StorageError> => {
    const hit = memo.get(doc.key)
    if (hit !== undefined && hit.revision === doc.revision) return Effect.succeed(hit)
    return Effect.try({ try: (): unknown => JSON.parse(doc.value), catch: (e) => e }).pipe(
      Effect.flatMap((json) => Schema.decodeUnknownEffect(schema)(json)),
      Effect.map((value) =>
        remember({ key: doc.key, value, revision: doc.revision, createRevision: doc.createRevision }, doc.value.length)
      ),
      Effect.mapError((e) => corrupt(kind, doc.key, e)),
    )
  }
  // A page read as keys and revisions first: documents still at a revision decoded before are
  // served from the memo; only the others are read (see RawBackend.revisionNow). A document
  // deleted in between is left out of the page.
  // A page past `maxBytes` stops before the document that would pass it (see ListOptions.maxBytes).
  const knownPage = (
    heads: NonNullable<RawBackend["listRevisions"]>,
    prefix: string,
    after: string | undefined,
    limit: number | undefined,
    maxBytes: number,
  ) =>
    Effect.gen(function*() {
      const page = yield* heads(kind, prefix, after, limit)
      const items: Array<Versioned<A>> = []
      let bytes = 0
      for (const head of page.items) {
        const hit = memo.get(head.key)
        if (hit !== undefined && hit.revision === head.revision) {
          const size = sizes.get(head.key)!
          if (items.length > 0 && bytes + size > maxBytes) return { items, more: true, bytes }
          items.push(hit)
          bytes += size
          continue
        }
        const doc = yield* raw.get(kind, head.key)
        if (Option.isNone(doc)) continue
        const size = doc.value.value.length
        if (items.length > 0 && bytes + size > maxBytes) return { items, more: true, bytes }
        items.push(yield* decode(doc.value))
        bytes += size
      }
      return { items, more: page.more, bytes }
    })
  /** A backend's page of documents, cut at `maxBytes`, decoded. */
  const fullPage = (page: { readonly items: ReadonlyArray<RawDoc>; readonly more: boolean }, maxBytes: number) => {
    let n = 0
    let bytes = 0
    for (const doc of page.items) {
      if (n > 0 && bytes + doc.value.length > maxBytes) break
      bytes += doc.value.length
      n++
    }
    const kept = n === page.items.length ? page.items : page.items.slice(0, n)
    return Effect.map(
      Effect.forEach(kept, decode),
      (items) => ({ items, more: page.more || n < page.items.length, bytes }),
    )
  }
  /** The memo's document when the backend says it is still the key's current revision. */
  const current = (key: string): Versioned<A> | undefined => {
    const known = memo.get(key)
    return known !== undefined && raw.revisionNow !== undefined && raw.revisionNow(kind, key) === known.revision
      ? known
      : undefined
  }
  /** Read the document and decode it (or find its revision in the memo). */
  const load = (key: string): Effect.Effect<Option.Option<Versioned<A>>, StorageError> =>
    Effect.flatMap(
      raw.get(kind, key),
      (doc) => Option.isSome(doc) ? Effect.map(decode(doc.value), Option.some) : Effect.succeed(Option.none()),
    )
  /** Still the revision decoded before: served without reading the document again. */
  const read = (key: string) => {
    const known = current(key)
    return known !== undefined ? Effect.succeed(Option.some(known)) : load(key)
  }
  const tracedRead = tracedFn("ControlPlaneStore.get")(function*(key: string) {
    yield* Effect.annotateCurrentSpan({ kind, key })
    return yield* read(key)
  })
  const decodeChange = (c: Change<string>): Effect.Effect<Change<A>, StorageError> => {
    if (c._tag === "Delete") {
      forget(c.key)
      return Effect.succeed(c)
    }
    return Effect.map(decode(c.item), (item) => ({ _tag: "Put", item }))
  }

  return {
    kind,
    get: (key: string) =>
      // Untraced, a revision decoded before and still current is one step.
      Effect.withFiber((fiber) => fiber.getRef(References.TracerEnabled) ? tracedRead(key) : read(key)),
    list: tracedFn("ControlPlaneStore.list")(function*(options?: ListOptions) {
      yield* Effect.annotateCurrentSpan({ kind })
      const limit = options?.limit
      if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) {
        return yield* ValidationError.single("limit", "must be a positive integer")
      }
      if (options?.cursor !== undefined && options.after !== undefined) {
        return yield* ValidationError.single("after", "cannot be given with a cursor")
      }
      const after = options?.cursor === undefined ? options?.after : decodeCursor(options.cursor)
      if (options?.cursor !== undefined && after === undefined) {
        return yield* ValidationError.single("cursor", "is not a cursor returned by a previous list")
      }
      const maxBytes = options?.maxBytes ?? Infinity
      if (!(maxBytes > 0)) return yield* ValidationError.single("maxBytes", "must be a positive number")
      const prefix = options?.prefix ?? ""
      const { items, more, bytes } = raw.listRevisions === undefined
        ? yield* Effect.flatMap(raw.list(kind, prefix, after, limit), (page) => fullPage(page, maxBytes))
        : yield* knownPage(raw.listRevisions, prefix, after, limit, maxBytes)
      const last = items[items.length - 1]
      return { items, nextCursor: more && last !== undefined ? encodeCursor(last.key) : undefined, bytes }
    }),
    create: tracedFn("ControlPlaneStore.create")(function*(key: string, value: A) {
      yield* Effect.annotateCurrentSpan({ kind, key })
      yield* checkKey(key)
      const doc = yield* raw.create(kind, key, yield* encode(key, value))
      return written(key, value, doc)
    }),
    update: tracedFn("ControlPlaneStore.update")(function*(key: string, value: A, expectedRevision?: bigint) {
      yield* Effect.annotateCurrentSpan({ kind, key })
      yield* checkKey(key)
      const doc = yield* raw.update(kind, key, yield* encode(key, value), expectedRevision)
      return written(key, value, doc)
    }),
    upsert: tracedFn("ControlPlaneStore.upsert")(function*(key: string, value: A) {
      yield* Effect.annotateCurrentSpan({ kind, key })
      yield* checkKey(key)
      const doc = yield* raw.upsert(kind, key, yield* encode(key, value))
      return written(key, value, doc)
    }),
    delete: tracedFn("ControlPlaneStore.delete")(function*(key: string, expectedRevision?: bigint) {
      yield* Effect.annotateCurrentSpan({ kind, key })
      yield* checkKey(key)
      const existed = yield* raw.delete(kind, key, expectedRevision)
      forget(key)
      return existed
    }),
    subscribe: (options?: WatchOptions) =>
      Effect.map(raw.subscribe(kind, options?.includeExisting ?? false), Stream.mapEffect(decodeChange)),
    watch: (options?: WatchOptions) =>
      Stream.unwrap(raw.subscribe(kind, options?.includeExisting ?? false)).pipe(
        Stream.mapEffect(decodeChange),
        Stream.withSpan("ControlPlaneStore.watch", { attributes: { kind } }),
      ),
  }
}

/** The typed ControlPlaneStore service over one backend. */
export function makeControlPlaneStore(
  raw: RawBackend,
  memoLimits: MemoLimits = defaultMemoLimits,
): ControlPlaneStore["Service"] {
  return {
    backend: raw.backend,
    ready: raw.ready.pipe(Effect.withSpan("ControlPlaneStore.ready")),
    collection: <A, I>(kind: string, schema: Schema.Codec<A, I>) => {
      // A programming error (kinds are constants in the PM), so it throws at wiring time.
      if (!KIND.test(kind)) throw new Error(`cp-storage: invalid collection kind ${JSON.stringify(kind)}`)
      return makeCollection(raw, kind, schema, memoLimits)
    },
  }
}
