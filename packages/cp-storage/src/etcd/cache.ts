import { Clock, Deferred, type Duration, Effect, Schedule, type Scope } from "effect"
import type { Etcd3, IEvent, IKeyValue } from "etcd3"
import type { Change } from "../DocumentStore.ts"
import type { StorageError } from "@oprc/models"
import type { ChangeHub, Snapshot } from "../internal/ChangeHub.ts"
import { SortedIndex } from "../internal/SortedIndex.ts"
import { type CachedDoc, call, type KeySpace, toDoc } from "./client.ts"

const PAGE = 1000
// How long a write waits for its own event before answering anyway (the watch is down).
const CACHE_WAIT_MS = 5000

type SessionEnd = { readonly _tag: "Disconnected" | "Canceled"; readonly connected: boolean; readonly reason: string }

/**
 * Every document under the prefix, in memory, fed by one prefix watch: reads never go to etcd.
 * Load = a paged range at one revision R, then watch from R+1. The cache resumes a broken watch
 * from its own last applied revision (etcd3's Watcher may skip events when it reconnects twice),
 * and re-lists when etcd says that revision was compacted.
 */
export interface EtcdCache {
  index(kind: string): SortedIndex<CachedDoc>
  snapshot(kind: string): Snapshot
  /** Every event at or below this revision is applied. -1 until the first load. */
  readonly revision: () => bigint
  readonly watching: () => boolean
  /** Resolves when the first watch stream is live (the layer waits for it). */
  readonly firstWatch: Effect.Effect<void>
  /** Resolves once the cache has applied `revision` (a write's own), so reads see the write. */
  waitFor(revision: bigint): Effect.Effect<void>
  readonly load: Effect.Effect<void, StorageError>
  /** Keeps the cache in sync forever; backs off while etcd is unreachable. */
  readonly sync: Effect.Effect<never>
}

export const makeEtcdCache = (
  client: Etcd3,
  keys: KeySpace,
  hub: ChangeHub,
  timeoutMs: number,
): Effect.Effect<EtcdCache> =>
  Effect.map(Deferred.make<void>(), (firstWatch) => cacheWith(client, keys, hub, timeoutMs, firstWatch))

function cacheWith(
  client: Etcd3,
  keys: KeySpace,
  hub: ChangeHub,
  timeoutMs: number,
  firstWatch: Deferred.Deferred<void>,
): EtcdCache {
  const kinds = new Map<string, SortedIndex<CachedDoc>>()
  let waiters: Array<{ readonly revision: bigint; readonly deadline: number; readonly resume: () => void }> = []
  let revision = -1n
  let watching = false

  const index = (kind: string): SortedIndex<CachedDoc> => {
    let idx = kinds.get(kind)
    if (idx === undefined) kinds.set(kind, idx = new SortedIndex<CachedDoc>())
    return idx
  }
  const all = (idx: SortedIndex<CachedDoc>) => idx.range("", undefined, undefined).items

  const advance = (to: bigint): void => {
    if (to > revision) revision = to
    if (waiters.length === 0) return
    const ready = waiters.filter((w) => w.revision <= revision)
    waiters = waiters.filter((w) => w.revision > revision)
    for (const w of ready) w.resume()
  }

  const applyEvents = (events: ReadonlyArray<IEvent>): void => {
    let last = revision
    for (const ev of events) {
      const rev = BigInt(ev.kv.mod_revision)
      // A resumed watch may replay what the cache already has.
      if (rev <= revision) continue
      last = rev
      const parsed = keys.parse(ev.kv.key)
      if (parsed === undefined) continue
      const [kind, key] = parsed
      const idx = index(kind)
      if (ev.type === "Put") {
        const item = toDoc(key, ev.kv)
        idx.set(key, item)
        hub.publish(kind, { _tag: "Put", item })
      } else if (idx.delete(key)) {
        hub.publish(kind, { _tag: "Delete", key, revision: rev })
      }
    }
    advance(last)
  }

  /** Replaces the contents with a range at one revision; watchers get the difference as changes. */
  const replace = (kvs: ReadonlyArray<IKeyValue>, at: bigint): void => {
    const fresh = new Map<string, SortedIndex<CachedDoc>>()
    for (const kv of kvs) {
      const parsed = keys.parse(kv.key)
      if (parsed === undefined) continue
      let idx = fresh.get(parsed[0])
      if (idx === undefined) fresh.set(parsed[0], idx = new SortedIndex<CachedDoc>())
      idx.set(parsed[1], toDoc(parsed[1], kv))
    }
    for (const kind of new Set([...kinds.keys(), ...fresh.keys()])) {
      const before = index(kind)
      const after = fresh.get(kind) ?? new SortedIndex<CachedDoc>()
      const changes: Change<string>[] = []
      for (const old of all(before)) {
        if (after.get(old.key) === undefined) changes.push({ _tag: "Delete", key: old.key, revision: at })
      }
      for (const doc of all(after)) {
        if (before.get(doc.key)?.revision !== doc.revision) changes.push({ _tag: "Put", item: doc })
      }
      kinds.set(kind, after)
      for (const c of changes) hub.publish(kind, c)
    }
    revision = at
    advance(at)
  }

  /** A paged range over the whole prefix, every page at the first page's revision. */
  const load: Effect.Effect<void, StorageError> = Effect.gen(function*() {
    const kvs: IKeyValue[] = []
    let at: string | undefined
    let from = keys.start
    for (;;) {
      const res = yield* call(
        "range",
        timeoutMs,
        (o) => client.kv.range({ key: from, range_end: keys.end, limit: PAGE, ...(at ? { revision: at } : {}) }, o),
      )
      at ??= res.header.revision
      kvs.push(...res.kvs)
      const last = res.kvs[res.kvs.length - 1]
      if (!res.more || last === undefined) break
      from = Buffer.concat([last.key, Buffer.from([0])])
    }
    replace(kvs, BigInt(at ?? "0"))
  }).pipe(Effect.withSpan("EtcdCache.load"))

  /** One watch stream from the cache's revision; ends when it breaks or etcd cancels it. */
  const session: Effect.Effect<SessionEnd, never, Scope.Scope> = Effect.gen(function*() {
    const ended = yield* Deferred.make<SessionEnd>()
    let connected = false
    const end = (_tag: SessionEnd["_tag"]) => (err: Error) => {
      watching = false
      Deferred.doneUnsafe(ended, Effect.succeed({ _tag, connected, reason: err.message }))
    }
    // Listeners go on in the same synchronous step that creates the watcher: nothing is missed.
    yield* Effect.acquireRelease(
      Effect.sync(() =>
        client.watch().prefix(keys.start).startRevision((revision + 1n).toString()).watcher()
          .on("connected", () => {
            connected = true
            watching = true
            Deferred.doneUnsafe(firstWatch, Effect.void)
          })
          .on("data", (res) => applyEvents(res.events))
          .on("disconnected", end("Disconnected"))
          .on("error", end("Canceled"))
      ),
      (w) => Effect.promise(() => w.cancel()).pipe(Effect.timeoutOrElse({ duration: 1000, orElse: () => Effect.void })),
    )
    return yield* Deferred.await(ended)
  })

  /**
   * Answers writes whose event has not arrived within CACHE_WAIT_MS: the write is durable, only
   * read-your-writes is late while the watch is down. One sweep for all writes is far cheaper
   * than a timer (a race of two fibers) per write.
   */
  const sweep: Effect.Effect<never> = Effect.gen(function*() {
    for (;;) {
      yield* Effect.sleep(250)
      const now = yield* Clock.currentTimeMillis
      const late = waiters.filter((w) => w.deadline <= now)
      if (late.length === 0) continue
      waiters = waiters.filter((w) => w.deadline > now)
      yield* Effect.logWarning(
        `etcd cache is behind: ${late.length} writes answered before their events arrived (at revision ${revision})`,
      )
      for (const w of late) w.resume()
    }
  })

  // Between watch sessions: capped exponential (50 ms doubling to 1 s) as a Schedule; a session
  // that got connected starts the next failure streak from the first step again.
  const reconnect = Schedule.min([Schedule.exponential("50 millis"), Schedule.spaced("1 second")])
  type Step = (now: number, input: unknown) => Effect.Effect<readonly [unknown, Duration.Duration], unknown>
  const freshStep = Effect.map(Schedule.toStep(reconnect), (step) => step as unknown as Step)
  let step: Step | undefined
  const backoff = (failures: number) =>
    Effect.gen(function*() {
      if (failures === 0 || step === undefined) step = yield* freshStep
      const [, delay] = yield* step(yield* Clock.currentTimeMillis, undefined).pipe(Effect.orDie)
      yield* Effect.sleep(delay)
    })

  const follow: Effect.Effect<never> = Effect.gen(function*() {
    let failures = 0
    let reload = false
    for (;;) {
      if (reload) {
        const loaded = yield* Effect.result(load)
        if (loaded._tag === "Failure") {
          failures++
          yield* Effect.logWarning(`etcd cache reload failed: ${loaded.failure.reason}`)
          yield* backoff(failures)
          continue
        }
        reload = false
      }
      const end = yield* Effect.scoped(session)
      failures = end.connected ? 0 : failures + 1
      // Canceled means etcd refused the start revision (compacted): only a fresh list helps.
      reload = end._tag === "Canceled"
      yield* Effect.logDebug(`etcd cache watch ended (${end._tag}): ${end.reason}`)
      yield* backoff(failures)
    }
  })

  return {
    index,
    snapshot: (kind) => ({ items: all(index(kind)), revision }),
    revision: () => revision,
    watching: () => watching,
    firstWatch: Deferred.await(firstWatch),
    waitFor: (target) =>
      Effect.suspend(() =>
        revision >= target
          ? Effect.void
          : Effect.flatMap(Clock.currentTimeMillis, (now) =>
            Effect.callback<void>((resume) => {
              const waiter = { revision: target, deadline: now + CACHE_WAIT_MS, resume: () => resume(Effect.void) }
              waiters.push(waiter)
              return Effect.sync(() => {
                waiters = waiters.filter((w) => w !== waiter)
              })
            }))
      ),
    load,
    sync: Effect.raceFirst(follow, sweep),
  }
}
