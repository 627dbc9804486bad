import type { Effect, Option, Scope, Stream } from "effect"
import type { AlreadyExists, NotFound, StorageError, VersionConflict } from "@oprc/models"
import type { Backend, Change, Versioned } from "../DocumentStore.ts"

/** A stored document whose value is the JSON text of the schema's encoded form. */
export type RawDoc = Versioned<string>

/** A stored document's key and revision, without its value. */
export interface RawHead {
  readonly key: string
  readonly revision: bigint
}

interface RawPage {
  readonly items: ReadonlyArray<RawDoc>
  /** True when more keys match after the last item. */
  readonly more: boolean
}

/**
 * What each backend implements: schema-free documents addressed by (kind, key). The typed
 * layer (typed.ts) adds encoding, cursors and argument checks once for all backends.
 */
export interface RawBackend {
  readonly backend: Backend
  readonly ready: Effect.Effect<void, StorageError>
  get(kind: string, key: string): Effect.Effect<Option.Option<RawDoc>, StorageError>
  /**
   * The key's current revision (undefined: no such document), for backends that keep every
   * revision in memory (SQLite's heads, etcd's watched cache): the typed layer then serves a
   * revision it has decoded already at once, without reading the document or taking an Effect
   * step. Absent: every read goes through `get`.
   */
  revisionNow?(kind: string, key: string): bigint | undefined
  /** `list` without the values (see revisionNow): each document's key and revision. */
  listRevisions?(
    kind: string,
    prefix: string,
    after: string | undefined,
    limit: number | undefined,
  ): Effect.Effect<{ readonly items: ReadonlyArray<RawHead>; readonly more: boolean }, StorageError>
  /** Keys in (after, ...) starting with prefix, sorted; at most limit items. */
  list(
    kind: string,
    prefix: string,
    after: string | undefined,
    limit: number | undefined,
  ): Effect.Effect<RawPage, StorageError>
  create(kind: string, key: string, json: string): Effect.Effect<RawDoc, AlreadyExists | StorageError>
  update(
    kind: string,
    key: string,
    json: string,
    expected: bigint | undefined,
  ): Effect.Effect<RawDoc, NotFound | VersionConflict | StorageError>
  upsert(kind: string, key: string, json: string): Effect.Effect<RawDoc, StorageError>
  delete(
    kind: string,
    key: string,
    expected: bigint | undefined,
  ): Effect.Effect<boolean, VersionConflict | StorageError>
  /** Subscribed once this succeeds; the stream ends with an error if the backend loses its feed. */
  subscribe(
    kind: string,
    includeExisting: boolean,
  ): Effect.Effect<Stream.Stream<Change<string>, StorageError>, StorageError, Scope.Scope>
}
