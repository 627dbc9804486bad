import { Effect, PubSub, type Scope, Stream } from "effect"
import type { Change } from "../DocumentStore.ts"
import type { StorageError } from "@oprc/models"
import type { RawDoc } from "./backend.ts"

export interface Snapshot {
  readonly items: ReadonlyArray<RawDoc>
  /** The store revision the snapshot reflects: every change at or below it is in `items`. */
  readonly revision: bigint
}

const changeRevision = (c: Change<string>): bigint => (c._tag === "Put" ? c.item.revision : c.revision)

/**
 * Fan-out of committed changes to watchers in this process. Backends publish synchronously
 * right after a change becomes visible to reads, so a watcher never sees an event before a
 * get would.
 */
export interface ChangeHub {
  readonly publish: (kind: string, change: Change<string>) => void
  /** Subscribed once this succeeds; the subscription lives as long as the scope. */
  readonly subscribe: (
    kind: string,
    snapshot: Effect.Effect<Snapshot, StorageError> | undefined,
  ) => Effect.Effect<Stream.Stream<Change<string>>, StorageError, Scope.Scope>
  readonly shutdown: Effect.Effect<void>
}

/**
 * One PubSub per kind, made by the first subscriber: a write wakes only the watchers of its own
 * kind (the PM's deployment watches used to wake, filter and drop every package write), and a
 * kind nobody watches publishes nothing at all (a PubSub drops what no subscriber takes anyway).
 */
export const makeChangeHub: Effect.Effect<ChangeHub> = Effect.gen(function*() {
  const kinds = new Map<string, PubSub.PubSub<Change<string>>>()
  let shut = false
  const pubsubOf = (kind: string) =>
    Effect.suspend(() => {
      const existing = kinds.get(kind)
      if (existing !== undefined) return Effect.succeed(existing)
      return Effect.map(PubSub.unbounded<Change<string>>(), (made) => {
        // Made concurrently by another subscriber in between: use the first one.
        const first = kinds.get(kind)
        if (first !== undefined) return first
        kinds.set(kind, made)
        return made
      })
    })
  return {
    publish: (kind, change) => {
      const pubsub = kinds.get(kind)
      if (pubsub !== undefined) PubSub.publishUnsafe(pubsub, change)
    },
    subscribe: (kind, snapshot) =>
      Effect.gen(function*() {
        const pubsub = yield* pubsubOf(kind)
        if (shut) yield* PubSub.shutdown(pubsub)
        // Subscribe before taking the snapshot: a change committed in between is either in the
        // snapshot (revision <= snapshot.revision, dropped from the live part) or only live.
        const subscription = yield* PubSub.subscribe(pubsub)
        const live = Stream.fromSubscription(subscription)
        if (snapshot === undefined) return live
        const snap = yield* snapshot
        const existing = Stream.fromIterable(snap.items.map((item): Change<string> => ({ _tag: "Put", item })))
        return Stream.concat(existing, live.pipe(Stream.filter((c) => changeRevision(c) > snap.revision)))
      }),
    shutdown: Effect.suspend(() => {
      shut = true
      return Effect.forEach(kinds.values(), (p) => PubSub.shutdown(p), { discard: true })
    }),
  }
})
