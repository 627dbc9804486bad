import { Context, Effect, Layer, type Option, type Schema, type Scope, type Stream } from "effect"
import type { AlreadyExists, NotFound, ValidationError, VersionConflict } from "@oprc/models"
import { StorageError } from "@oprc/models"
import { makeMemoryBackend } from "./MemoryBackend.ts"
import { makeSqliteBackend } from "./SqliteBackend.ts"
import { makeControlPlaneStore } from "./internal/typed.ts"

export { StorageError }

/** A stored document with the revisions that make compare-and-swap possible. */
export interface Versioned<A> {
  readonly key: string
  readonly value: A
  /**
   * etcd mod_revision; memory and SQLite: a store-wide counter. Grows with every write of the key;
   * on etcd, writes committed in one txn (concurrent writes are batched) share a revision.
   */
  readonly revision: bigint
  readonly createRevision: bigint
}

export interface Page<A> {
  readonly items: ReadonlyArray<Versioned<A>>
  /** Opaque; pass back as `cursor` for the next page. Undefined on the last page. */
  readonly nextCursor: string | undefined
  /** The stored text of the page's documents (UTF-16 code units, bytes for ASCII JSON): what `maxBytes` counts. */
  readonly bytes: number
}

export type Change<A> =
  | { readonly _tag: "Put"; readonly item: Versioned<A> }
  | { readonly _tag: "Delete"; readonly key: string; readonly revision: bigint }

export interface ListOptions {
  /** Only keys starting with this string. */
  readonly prefix?: string | undefined
  /** Page size; undefined = everything. */
  readonly limit?: number | undefined
  /** From a previous page's nextCursor. Keyset-based: stable while others write. */
  readonly cursor?: string | undefined
  /**
   * Only keys after this one (exclusive): for callers whose own cursors name a document (the
   * PM's catalog pages by package name). Not together with `cursor`.
   */
  readonly after?: string | undefined
  /**
   * Ends the page early, with a cursor, before its documents' stored text would pass this many
   * bytes; a page always holds at least one document (so it passes the bound by at most one).
   * For pages answered to clients: a count alone lets one page of large documents grow without
   * bound. Undefined: only `limit` ends the page.
   */
  readonly maxBytes?: number | undefined
}

export interface WatchOptions {
  /**
   * First emit a Put for every existing document (sorted by key), then the live changes, with
   * no gap and no duplicate in between: the list-then-watch pattern of a reconcile loop.
   */
  readonly includeExisting?: boolean | undefined
}

/** One kind of document (packages, deployments, ...), stored as JSON of the schema's encoded form. */
export interface DocumentCollection<A> {
  readonly kind: string
  get(key: string): Effect.Effect<Option.Option<Versioned<A>>, StorageError>
  /** Sorted by key. A malformed cursor fails with ValidationError (path "cursor"). */
  list(options?: ListOptions): Effect.Effect<Page<A>, ValidationError | StorageError>
  create(key: string, value: A): Effect.Effect<Versioned<A>, AlreadyExists | StorageError>
  /** expectedRevision undefined = unconditional (still a CAS on the revision just read, retried). */
  update(
    key: string,
    value: A,
    expectedRevision?: bigint,
  ): Effect.Effect<Versioned<A>, NotFound | VersionConflict | StorageError>
  upsert(key: string, value: A): Effect.Effect<Versioned<A>, StorageError>
  /** false when the key did not exist (and no expectedRevision was given). */
  delete(key: string, expectedRevision?: bigint): Effect.Effect<boolean, VersionConflict | StorageError>
  /** Changes committed after the stream starts running (see WatchOptions.includeExisting). */
  watch(options?: WatchOptions): Stream.Stream<Change<A>, StorageError>
  /**
   * Like watch, but subscribed once the effect succeeds, so a write made afterwards is
   * guaranteed to appear (watch subscribes only when its stream starts, which may be later
   * than the fork that runs it). The subscription lives until the scope closes.
   */
  subscribe(options?: WatchOptions): Effect.Effect<Stream.Stream<Change<A>, StorageError>, StorageError, Scope.Scope>
}

export type Backend = "memory" | "sqlite" | "etcd"

export interface EtcdOptions {
  readonly endpoints: ReadonlyArray<string>
  /** Key prefix; keys are `{prefix}/{kind}/{key}`. Default "/oprc/pm". */
  readonly prefix?: string | undefined
  /** How long the layer waits for etcd at start-up. Default 5000. */
  readonly dialTimeoutMs?: number | undefined
  /**
   * Deadline of one etcd call. Default 2000. A write whose call times out is retried safely
   * (see EtcdBackend) for up to 20 s, so a short deadline only bounds how long a request stuck
   * on a member that lost its leader waits before trying again.
   */
  readonly requestTimeoutMs?: number | undefined
}

/** Control-plane document storage for the PM: memory (tests), SQLite (embedded), etcd (HA). */
export class ControlPlaneStore extends Context.Service<ControlPlaneStore, {
  /** kind: [a-z0-9][a-z0-9_-]* ; one collection per kind. */
  readonly collection: <A, I>(kind: string, schema: Schema.Codec<A, I>) => DocumentCollection<A>
  /** Succeeds when the backend can serve reads and writes right now (for /readyz). */
  readonly ready: Effect.Effect<void, StorageError>
  readonly backend: Backend
}>()("oprc/cp-storage/ControlPlaneStore") {
  static readonly layerMemory: Layer.Layer<ControlPlaneStore> = Layer.effect(
    ControlPlaneStore,
    Effect.map(makeMemoryBackend, makeControlPlaneStore),
  )

  /** One SQLite file (created with its folder if missing); this process must be its only writer. */
  static readonly layerSqlite = (options: { readonly path: string }): Layer.Layer<ControlPlaneStore, StorageError> =>
    Layer.effect(ControlPlaneStore, Effect.map(makeSqliteBackend(options), makeControlPlaneStore))

  /**
   * etcd: fails when no member answers within dialTimeoutMs; afterwards it reconnects on its
   * own and `ready` reports the outages.
   */
  static readonly layerEtcd = (options: EtcdOptions): Layer.Layer<ControlPlaneStore, StorageError> =>
    Layer.effect(
      ControlPlaneStore,
      // Imported only when chosen: evaluating etcd3 (its gRPC descriptors) costs ~200 ms of start-up.
      Effect.promise(() => import("./EtcdBackend.ts")).pipe(
        Effect.flatMap(({ makeEtcdBackend }) => Effect.map(makeEtcdBackend(options), makeControlPlaneStore)),
      ),
    )
}
