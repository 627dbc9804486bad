import { Effect, Metric, Option, Random, Schedule } from "effect"
import type { IKeyValue } from "etcd3"
import { AlreadyExists, NotFound, StorageError, VersionConflict } from "@oprc/models"
import type { EtcdOptions } from "./DocumentStore.ts"
import { makeCasBatcher } from "./etcd/batch.ts"
import { makeEtcdCache } from "./etcd/cache.ts"
import { type CachedDoc, call, KeySpace, makeClient, toDoc, toStorageError, unwrap, wrap } from "./etcd/client.ts"
import type { RawBackend } from "./internal/backend.ts"
import { makeChangeHub } from "./internal/ChangeHub.ts"
import { etcdMetrics } from "./etcd/metrics.ts"

/** What a conditional put found: applied (now or by an earlier attempt of the same write), or the current value. */
type Outcome =
  | { readonly _tag: "Applied"; readonly doc: CachedDoc; readonly recovered: boolean }
  | { readonly _tag: "Conflict"; readonly current: IKeyValue | undefined }

// Transient failures (leader election, a dead member, deadlines) are retried for this long.
const RETRY_BUDGET = "20 seconds"
// Under heavy contention an unconditional update gives up after this many lost CAS rounds.
const MAX_CAS_ROUNDS = 100

const retrySchedule = Schedule.min([Schedule.exponential("25 millis"), Schedule.spaced("500 millis")]).pipe(
  Schedule.jittered,
  Schedule.upTo({ duration: RETRY_BUDGET }),
)

const conflict = (kind: string, key: string, expected: bigint, current: IKeyValue | undefined) =>
  new VersionConflict({
    resource: kind,
    name: key,
    expected: expected.toString(),
    ...(current ? { actual: current.mod_revision } : {}),
  })

/** The etcd backend: CAS on mod_revision for every write, reads from a watch-fed cache. */
export const makeEtcdBackend = (options: EtcdOptions) =>
  Effect.gen(function*() {
    const dialMs = options.dialTimeoutMs ?? 5000
    const timeoutMs = options.requestTimeoutMs ?? 2000
    const keys = new KeySpace(options.prefix ?? "/oprc/pm")
    const client = yield* Effect.acquireRelease(
      Effect.try({ try: () => makeClient(options.endpoints), catch: toStorageError("client") }),
      (c) => Effect.sync(() => c.close()),
    )
    const hub = yield* makeChangeHub
    yield* Effect.addFinalizer(() => hub.shutdown)
    const cache = yield* makeEtcdCache(client, keys, hub, timeoutMs)
    yield* cache.load.pipe(
      Effect.retry({ schedule: retrySchedule.pipe(Schedule.upTo({ duration: dialMs })), while: (e) => e.retryable }),
      Effect.mapError((e) =>
        new StorageError({ reason: `etcd ${options.endpoints.join(",")}: ${e.reason}`, retryable: e.retryable })
      ),
    )
    yield* Effect.forkScoped(cache.sync)
    yield* cache.firstWatch.pipe(Effect.timeoutOrElse({
      duration: dialMs,
      orElse: () =>
        Effect.fail(
          new StorageError({ reason: `etcd ${options.endpoints.join(",")}: watch did not start`, retryable: true }),
        ),
    }))

    // Write ids: unique per process (random) and per write (counter); see client.ts `wrap`.
    const instance = (yield* Random.nextInt).toString(36).replace("-", "") +
      (yield* Random.nextInt).toString(36).replace("-", "")
    let seq = 0
    const nextWriteId = () => `${instance}.${(seq++).toString(36)}`

    /**
     * Runs a txn with retries. A failed attempt may still have been applied (the leader died
     * after committing), so each retry is told it is one; writes recognise their own earlier
     * attempt by the write id in the stored value.
     */
    const retried = <A, E>(body: (isRetry: boolean) => Effect.Effect<A, E | StorageError>) =>
      Effect.suspend(() => {
        let attempts = 0
        return Effect.suspend(() => {
          const isRetry = attempts++ > 0
          return isRetry ? Effect.andThen(Metric.update(etcdMetrics.retries, 1), body(true)) : body(false)
        }).pipe(Effect.retry({ schedule: retrySchedule, while: (e) => e instanceof StorageError && e.retryable }))
      })

    // Conditional puts share txns while one is in flight (etcd/batch.ts); run in this layer's context.
    const runInLayer = Effect.runForkWith(yield* Effect.context<never>())
    const batcher = makeCasBatcher(client, timeoutMs, (e) => {
      runInLayer(e)
    })

    const putIf = (kind: string, key: string, json: string, expected: bigint) => {
      const writeId = nextWriteId()
      return batcher.submit({ key: keys.full(kind, key), value: wrap(writeId, json), expected }).pipe(
        Effect.map((res): Outcome => {
          if (res.applied) {
            const createRevision = res.prev ? BigInt(res.prev.create_revision) : res.revision
            return {
              _tag: "Applied",
              doc: { key, value: json, revision: res.revision, createRevision, writeId },
              recovered: false,
            }
          }
          const current = res.current
          // Our own earlier attempt, applied before its response was lost.
          if (current && unwrap(current.value).writeId === writeId) {
            return { _tag: "Applied", doc: toDoc(key, current), recovered: true }
          }
          return { _tag: "Conflict", current }
        }),
        Effect.tap((
          r,
        ) => (r._tag === "Applied" && r.recovered ? Metric.update(etcdMetrics.recoveredWrites, 1) : Effect.void)),
      )
    }
    // The same write id across retries, so it is created once per put, not per attempt.
    const putOnce = (kind: string, key: string, json: string, expected: bigint) =>
      Effect.suspend(() => {
        const attempt = putIf(kind, key, json, expected)
        return retried(() => attempt)
      })
    const applied = (doc: CachedDoc) => Effect.as(cache.waitFor(doc.revision), doc)
    const seen = (
      current: IKeyValue | undefined,
    ) => (current ? cache.waitFor(BigInt(current.mod_revision)) : Effect.void)

    /** The key's revision, from the cache; a miss is confirmed by etcd (the cache may lag). */
    const currentRevision = (kind: string, key: string) =>
      Effect.suspend(() => {
        const cached = cache.index(kind).get(key)
        if (cached !== undefined) return Effect.succeed(cached.revision)
        return retried(() => call("range", timeoutMs, (o) => client.kv.range({ key: keys.full(kind, key) }, o))).pipe(
          Effect.map((res) => BigInt(res.kvs[0]?.mod_revision ?? "0")),
        )
      })

    /** CAS rounds until the put lands: each lost round retries on the revision etcd returned. */
    const casLoop = (kind: string, key: string, json: string, start: bigint, upsert: boolean) => {
      const round = (
        expected: bigint,
        n: number,
      ): Effect.Effect<CachedDoc, NotFound | VersionConflict | StorageError> =>
        putOnce(kind, key, json, expected).pipe(
          Effect.flatMap((r) => {
            if (r._tag === "Applied") return applied(r.doc)
            if (r.current === undefined && !upsert) return Effect.fail(new NotFound({ resource: kind, name: key }))
            if (n >= MAX_CAS_ROUNDS) return Effect.fail(conflict(kind, key, expected, r.current))
            return round(BigInt(r.current?.mod_revision ?? "0"), n + 1)
          }),
        )
      if (start === 0n && !upsert) return Effect.fail(new NotFound({ resource: kind, name: key }))
      return round(start, 0)
    }

    const deleteIf = (kind: string, key: string, expected: bigint) => {
      const full = keys.full(kind, key)
      return retried((isRetry) =>
        call("txn", timeoutMs, (o) =>
          client.kv.txn({
            compare: [{ key: full, target: "Mod", result: "Equal", mod_revision: expected.toString() }],
            success: [{ request_delete_range: { key: full } }],
            failure: [{ request_range: { key: full } }],
          }, o)).pipe(
            Effect.map((res) => ({
              deletedAt: res.succeeded ? BigInt(res.header.revision) : undefined,
              current: res.responses[0]?.response_range?.kvs[0],
              isRetry,
            })),
          )
      )
    }

    const deleteLoop = (
      kind: string,
      key: string,
      expected: bigint | undefined,
      start: bigint,
      n: number,
    ): Effect.Effect<boolean, VersionConflict | StorageError> =>
      deleteIf(kind, key, expected ?? start).pipe(
        Effect.flatMap((r) => {
          if (r.deletedAt !== undefined) return Effect.as(cache.waitFor(r.deletedAt), true)
          // Gone after an ambiguous attempt: most likely that attempt deleted it.
          if (r.current === undefined) {
            if (r.isRetry) return Effect.succeed(true)
            return expected === undefined
              ? Effect.succeed(false)
              : Effect.fail(conflict(kind, key, expected, undefined))
          }
          if (expected !== undefined || n >= MAX_CAS_ROUNDS) {
            return Effect.andThen(seen(r.current), Effect.fail(conflict(kind, key, expected ?? start, r.current)))
          }
          return deleteLoop(kind, key, undefined, BigInt(r.current.mod_revision), n + 1)
        }),
      )

    const backend: RawBackend = {
      backend: "etcd",
      ready: Effect.suspend(() =>
        cache.watching()
          ? call("status", Math.min(timeoutMs, 2000), (o) => client.maintenance.status(o)).pipe(
            Effect.flatMap((s) =>
              s.leader === "0"
                ? Effect.fail(new StorageError({ reason: "etcd has no leader", retryable: true }))
                : Effect.void
            ),
          )
          : Effect.fail(
            new StorageError({ reason: "etcd watch is not connected; the read cache may be stale", retryable: true }),
          )
      ),
      get: (kind, key) => Effect.sync(() => Option.fromUndefinedOr(cache.index(kind).get(key))),
      revisionNow: (kind, key) => cache.index(kind).get(key)?.revision,
      list: (kind, prefix, after, limit) => Effect.sync(() => cache.index(kind).range(prefix, after, limit)),
      create: (kind, key, json) =>
        putOnce(kind, key, json, 0n).pipe(
          Effect.flatMap((r) =>
            r._tag === "Applied"
              ? applied(r.doc)
              : Effect.andThen(seen(r.current), Effect.fail(new AlreadyExists({ resource: kind, name: key })))
          ),
        ),
      update: (kind, key, json, expected) =>
        expected === undefined
          ? Effect.flatMap(currentRevision(kind, key), (start) => casLoop(kind, key, json, start, false))
          : putOnce(kind, key, json, expected).pipe(
            Effect.flatMap((r) =>
              r._tag === "Applied"
                ? applied(r.doc)
                : Effect.andThen(seen(r.current), Effect.fail(conflict(kind, key, expected, r.current)))
            ),
          ),
      upsert: (kind, key, json) =>
        Effect.flatMap(currentRevision(kind, key), (start) => casLoop(kind, key, json, start, true)).pipe(
          // Only reachable after MAX_CAS_ROUNDS lost races: upsert has no conflict in its contract.
          Effect.mapError((e) =>
            e instanceof StorageError ? e : new StorageError({ reason: e.message, retryable: true })
          ),
        ),
      delete: (kind, key, expected) =>
        expected !== undefined
          ? deleteLoop(kind, key, expected, expected, 0)
          : Effect.flatMap(
            currentRevision(kind, key),
            (start) => start === 0n ? Effect.succeed(false) : deleteLoop(kind, key, undefined, start, 0),
          ),
      subscribe: (kind, includeExisting) =>
        hub.subscribe(kind, includeExisting ? Effect.sync(() => cache.snapshot(kind)) : undefined),
    }
    return backend
  })
