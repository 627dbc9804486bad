import { Deferred, type Duration, Effect, type Scope } from "effect"
import type { KvWatchEntry } from "@nats-io/kv"
import { StorageError } from "../errors.ts"
import { compareIds, type Position } from "../common.ts"
import type { Bucket } from "./Buckets.ts"
import { call, decodeJson, parseObjectKey, retrying } from "./client.ts"

/**
 * A node-local index of the keys of each class bucket, so a listing page costs a binary search
 * plus reading the page's values, not a scan of every key of the class (keys() has no order and no
 * cursor; docs/storage-engines.md §2.4: ~200 ms per 20k keys, per page).
 *
 * Built on the first listing of a class from a headers-only KV watch (one pass over the keys, no
 * values), then kept current by the same watch, so writes by other nodes appear within
 * milliseconds; writes by this node are applied at once (`note`), so a listing sees this node's
 * acknowledged writes. Every key carries the revision that last touched it and an older event never
 * overrides a newer one (a watch event may arrive after this node's own newer write).
 * Cost: memory O(keys of the listed classes) per node (~100 B per key), one watch per listed class,
 * an insert or delete is a binary search plus an array splice.
 */

interface Entry {
  readonly key: string
  readonly id: string
}

interface Index {
  /** The bucket handle it indexes: a bucket destroyed and made again (deleteClass) gets a new handle, and a new index. */
  readonly bucket: Bucket
  readonly ready: Deferred.Deferred<void, StorageError>
  /** key -> last revision applied (live or deleted: a tombstone keeps an older PUT from resurrecting it). */
  readonly revisions: Map<string, number>
  /** partition -> live ids, sorted as UTF-8 bytes. */
  readonly partitions: Map<number, Entry[]>
  stop?: () => void
}

/** UTF-8 byte order without encoding: code unit order agrees with it below the surrogates. */
const compare = (a: string, b: string): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x === y) continue
    return x < 0xd800 && y < 0xd800 ? x - y : compareIds(a.slice(i), b.slice(i))
  }
  return a.length - b.length
}

/** First position whose id is >= `id`. */
const lowerBound = (entries: ReadonlyArray<Entry>, id: string): number => {
  let lo = 0
  let hi = entries.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (compare(entries[mid]!.id, id) < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

export const makeKeyIndex = (options: { readonly budget: Duration.Duration }) =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const indexes = new Map<string, Index>()

    const apply = (ix: Index, key: string, revision: number, deleted: boolean, id: string | undefined) => {
      const seen = ix.revisions.get(key)
      if (seen !== undefined && seen >= revision) return
      ix.revisions.set(key, revision)
      const parsed = parseObjectKey(key)
      if (!parsed) return
      const theId = parsed.id ?? id
      if (theId === undefined) return
      let entries = ix.partitions.get(parsed.partition)
      if (!entries) ix.partitions.set(parsed.partition, entries = [])
      const at = lowerBound(entries, theId)
      const present = entries[at]?.id === theId
      if (deleted && present) entries.splice(at, 1)
      else if (!deleted && !present) entries.splice(at, 0, { key, id: theId })
    }

    /** The id of a hashed key lives only in its value (ids too long for a key token; rare). */
    const idOf = (b: Bucket, e: KvWatchEntry): Effect.Effect<string | undefined> =>
      parseObjectKey(e.key)?.id !== undefined || e.operation !== "PUT"
        ? Effect.succeed(undefined)
        : retrying("index.get", () => b.kv.get(e.key), { budget: options.budget, idempotent: true }).pipe(
          Effect.flatMap((full) => (full && full.value.length > 0
            ? decodeJson<{ o?: { i: string } }>("index", full.value)
            : Effect.succeed({} as { o?: { i: string } }))
          ),
          Effect.map((body) => body.o?.i),
          Effect.orElseSucceed(() => undefined),
        )

    const build = (b: Bucket, ix: Index) =>
      Effect.gen(function*() {
        const info = yield* call("index.info", () => b.kv.status())
        const watch = yield* call("index.watch", () => b.kv.watch({ key: ">", headers_only: true }))
        ix.stop = () => watch.stop()
        // Initial values end at the entry with delta 0 (or at once for an empty bucket).
        if (info.values === 0) yield* Deferred.succeed(ix.ready, undefined)
        yield* Effect.tryPromise({
          try: async () => {
            for await (const e of watch) {
              const hashed = e.operation === "PUT" && parseObjectKey(e.key)?.id === undefined
              apply(
                ix,
                e.key,
                e.revision,
                e.operation !== "PUT",
                hashed ? await Effect.runPromise(idOf(b, e)) : undefined,
              )
              if (e.isUpdate || e.delta === 0) Effect.runSync(Deferred.succeed(ix.ready, undefined))
            }
          },
          catch: (cause) => cause,
        })
      }).pipe(
        Effect.catch((cause) =>
          Deferred.fail(
            ix.ready,
            new StorageError({
              operation: "list",
              reason: `key index of ${b.name}: ${String(cause)}`,
              retryable: true,
            }),
          )
        ),
        // The watch ended (bucket destroyed, connection replaced): the next listing builds afresh.
        Effect.ensuring(Effect.sync(() => {
          if (indexes.get(b.name) === ix) indexes.delete(b.name)
        })),
      )

    const drop = (b: Bucket, only?: Index) =>
      Effect.sync(() => {
        const ix = indexes.get(b.name)
        if (only !== undefined && ix !== only) return
        indexes.delete(b.name)
        ix?.stop?.()
      })

    const indexOf = (b: Bucket) =>
      Effect.gen(function*() {
        let ix = indexes.get(b.name)
        if (ix && ix.bucket !== b) {
          yield* drop(ix.bucket, ix)
          ix = undefined
        }
        if (!ix) {
          ix = {
            bucket: b,
            ready: yield* Deferred.make<void, StorageError>(),
            revisions: new Map(),
            partitions: new Map(),
          }
          indexes.set(b.name, ix)
          yield* Effect.forkIn(build(b, ix), scope)
        }
        const built = ix
        yield* Deferred.await(ix.ready).pipe(
          Effect.timeoutOrElse({
            duration: options.budget,
            orElse: () =>
              Effect.andThen(
                drop(b, built),
                Effect.fail(
                  new StorageError({
                    operation: "list",
                    reason: `key index of ${b.name} not built in time`,
                    retryable: true,
                  }),
                ),
              ),
          }),
        )
        return ix
      })

    return {
      /** A write this node committed (revision = its stream sequence). */
      note: (b: Bucket, key: string, revision: number, deleted: boolean, id: string) => {
        const ix = indexes.get(b.name)
        if (ix && ix.bucket === b) apply(ix, key, revision, deleted, id)
      },
      /** Up to `want` keys in (partition, id) order after `after`, in one partition or all, with an id prefix. */
      page: (
        b: Bucket,
        q: {
          readonly partition: number | undefined
          readonly prefix: string
          readonly after: Position | undefined
          readonly want: number
        },
      ) =>
        Effect.gen(function*() {
          const ix = yield* indexOf(b)
          const partitions = [...ix.partitions.keys()]
            .filter((p) =>
              (q.partition === undefined || p === q.partition) && (q.after === undefined || p >= q.after.partition)
            )
            .sort((x, y) => x - y)
          const out: Array<Entry & { readonly partition: number }> = []
          for (const p of partitions) {
            const entries = ix.partitions.get(p)!
            const from = q.after && q.after.partition === p && compare(q.after.id, q.prefix) >= 0
              ? `${q.after.id}\u0000`
              : q.prefix
            for (let i = lowerBound(entries, from); i < entries.length && out.length < q.want; i++) {
              if (!entries[i]!.id.startsWith(q.prefix)) break
              out.push({ ...entries[i]!, partition: p })
            }
            if (out.length >= q.want) break
          }
          return out
        }),
      drop: (b: Bucket) => drop(b),
    }
  }) satisfies Effect.Effect<unknown, unknown, Scope.Scope>
