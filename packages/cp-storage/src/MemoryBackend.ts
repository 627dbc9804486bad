import { Effect, Option } from "effect"
import { AlreadyExists, NotFound, VersionConflict } from "@oprc/models"
import type { RawBackend, RawDoc } from "./internal/backend.ts"
import { makeChangeHub } from "./internal/ChangeHub.ts"
import { SortedIndex } from "./internal/SortedIndex.ts"

/**
 * The in-memory backend: the same semantics as SQLite and etcd (store-wide revisions, CAS,
 * watch), so PM tests that use it exercise the real contract. Every operation runs in one
 * synchronous step, which makes each one atomic without locks.
 */
export const makeMemoryBackend = Effect.gen(function*() {
  const hub = yield* makeChangeHub
  yield* Effect.addFinalizer(() => hub.shutdown)
  const kinds = new Map<string, SortedIndex<RawDoc>>()
  let revision = 0n

  const index = (kind: string): SortedIndex<RawDoc> => {
    let idx = kinds.get(kind)
    if (idx === undefined) kinds.set(kind, idx = new SortedIndex<RawDoc>())
    return idx
  }
  const put = (kind: string, key: string, json: string, createRevision: bigint | undefined): RawDoc => {
    revision += 1n
    const doc: RawDoc = { key, value: json, revision, createRevision: createRevision ?? revision }
    index(kind).set(key, doc)
    hub.publish(kind, { _tag: "Put", item: doc })
    return doc
  }
  const conflict = (kind: string, key: string, expected: bigint, actual: RawDoc | undefined) =>
    new VersionConflict({
      resource: kind,
      name: key,
      expected: expected.toString(),
      ...(actual ? { actual: actual.revision.toString() } : {}),
    })

  const backend: RawBackend = {
    backend: "memory",
    ready: Effect.void,
    get: (kind, key) => Effect.sync(() => Option.fromUndefinedOr(index(kind).get(key))),
    list: (kind, prefix, after, limit) => Effect.sync(() => index(kind).range(prefix, after, limit)),
    create: (kind, key, json) =>
      Effect.suspend(() =>
        index(kind).get(key) !== undefined
          ? Effect.fail(new AlreadyExists({ resource: kind, name: key }))
          : Effect.succeed(put(kind, key, json, undefined))
      ),
    update: (kind, key, json, expected) =>
      Effect.suspend((): Effect.Effect<RawDoc, NotFound | VersionConflict> => {
        const current = index(kind).get(key)
        if (expected !== undefined && current?.revision !== expected) {
          return Effect.fail(conflict(kind, key, expected, current))
        }
        if (current === undefined) return Effect.fail(new NotFound({ resource: kind, name: key }))
        return Effect.succeed(put(kind, key, json, current.createRevision))
      }),
    upsert: (kind, key, json) => Effect.sync(() => put(kind, key, json, index(kind).get(key)?.createRevision)),
    delete: (kind, key, expected) =>
      Effect.suspend((): Effect.Effect<boolean, VersionConflict> => {
        const current = index(kind).get(key)
        if (expected !== undefined && current?.revision !== expected) {
          return Effect.fail(conflict(kind, key, expected, current))
        }
        if (current === undefined) return Effect.succeed(false)
        revision += 1n
        index(kind).delete(key)
        hub.publish(kind, { _tag: "Delete", key, revision })
        return Effect.succeed(true)
      }),
    subscribe: (kind, includeExisting) =>
      hub.subscribe(
        kind,
        includeExisting
          ? Effect.sync(() => ({ items: index(kind).range("", undefined, undefined).items, revision }))
          : undefined,
      ),
  }
  return backend
})
