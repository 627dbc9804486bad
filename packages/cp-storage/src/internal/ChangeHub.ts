import { Effect, PubSub, type Scope, Stream } from "effect"
import type { Change } from "../DocumentStore.ts"
import type { StorageError } from "@oprc/models"
import type { RawDoc } from "./backend.ts"

interface KindChange {
  readonly kind: string
  readonly change: Change<string>
}

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

export const makeChangeHub: Effect.Effect<ChangeHub> = Effect.gen(function*() {
  const pubsub = yield* PubSub.unbounded<KindChange>()
  return {
    publish: (kind, change) => {
      PubSub.publishUnsafe(pubsub, { kind, change })
    },
    subscribe: (kind, snapshot) =>
      Effect.gen(function*() {
        // Subscribe before taking the snapshot: a change committed in between is either in the
        // snapshot (revision <= snapshot.revision, dropped from the live part) or only live.
        const subscription = yield* PubSub.subscribe(pubsub)
        const live = Stream.fromSubscription(subscription).pipe(Stream.filter((e) => e.kind === kind))
        if (snapshot === undefined) return Stream.map(live, (e) => e.change)
        const snap = yield* snapshot
        const existing = Stream.fromIterable(snap.items.map((item): Change<string> => ({ _tag: "Put", item })))
        return Stream.concat(
          existing,
          live.pipe(Stream.filter((e) => changeRevision(e.change) > snap.revision), Stream.map((e) => e.change)),
        )
      }),
    shutdown: PubSub.shutdown(pubsub),
  }
})
