import { mkdirSync } from "node:fs"
import { dirname } from "node:path"
import { Effect, Option } from "effect"
import { AlreadyExists, NotFound, StorageError, VersionConflict } from "@oprc/models"
import type { RawBackend, RawDoc, RawHead } from "./internal/backend.ts"
import { makeChangeHub } from "./internal/ChangeHub.ts"
import { SortedIndex } from "./internal/SortedIndex.ts"
import { failed, type JobResult, makeWriter, ok, openDatabase } from "@oprc/sqlite"
import type { Change } from "./DocumentStore.ts"

interface Row {
  readonly key: string
  readonly value: string
  readonly revision: bigint
  readonly create_revision: bigint
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS documents (
  kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
  revision INTEGER NOT NULL, create_revision INTEGER NOT NULL,
  PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0);
`

const toDoc = (r: Row): RawDoc => ({
  key: r.key,
  value: r.value,
  revision: r.revision,
  createRevision: r.create_revision,
})

const sqliteError = (what: string) => (cause: unknown) =>
  new StorageError({ reason: `sqlite ${what}: ${String(cause)}`, retryable: /SQLITE_BUSY|locked/i.test(String(cause)) })

const open = (path: string) =>
  Effect.try({
    try: () => {
      if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true })
      const db = openDatabase(path, { safeIntegers: true })
      db.exec(SCHEMA)
      return db
    },
    catch: sqliteError(`open ${path}`),
  })

/** The embedded backend: one SQLite file, one writer process (the PM), watch fed in-process. */
export const makeSqliteBackend = (options: { readonly path: string }) =>
  Effect.gen(function*() {
    const db = yield* Effect.acquireRelease(open(options.path), (db) => Effect.sync(() => db.close(false)))
    const hub = yield* makeChangeHub
    yield* Effect.addFinalizer(() => hub.shutdown)

    const q = {
      get: db.query<Row, [string, string]>(
        "SELECT key, value, revision, create_revision FROM documents WHERE kind = ? AND key = ?",
      ),
      range: db.query<Row, [string, string, string]>(
        "SELECT key, value, revision, create_revision FROM documents WHERE kind = ? AND key >= ? AND key > ? ORDER BY key",
      ),
      nextRevision: db.query<{ value: bigint }, []>(
        "UPDATE meta SET value = value + 1 WHERE name = 'revision' RETURNING value",
      ),
      storeRevision: db.query<{ value: bigint }, []>("SELECT value FROM meta WHERE name = 'revision'"),
      insert: db.query<null, [string, string, string, bigint, bigint]>(
        "INSERT INTO documents (kind, key, value, revision, create_revision) VALUES (?, ?, ?, ?, ?)",
      ),
      update: db.query<null, [string, bigint, string, string]>(
        "UPDATE documents SET value = ?, revision = ? WHERE kind = ? AND key = ?",
      ),
      delete: db.query<null, [string, string]>("DELETE FROM documents WHERE kind = ? AND key = ?"),
    }
    const read = <A>(what: string, f: () => A) => Effect.try({ try: f, catch: sqliteError(what) })

    // Every document's key and revision, in memory. A read that checks whether the revision it
    // decoded before is still current, and a page of a list, then touch no row: a row's revision
    // sits after its value in the record, so reading it from the file followed the value's
    // overflow pages, and at 10,000 packages that was most of a GetPackage's cost (bench/pm/growth.ts).
    // The process is the file's only writer, so its own commits are all the changes there are;
    // they update these after COMMIT, with their watch events.
    const heads = new Map<string, SortedIndex<RawHead>>()
    const headsOf = (kind: string) => {
      let idx = heads.get(kind)
      if (idx === undefined) heads.set(kind, idx = new SortedIndex<RawHead>())
      return idx
    }
    yield* read("load", () => {
      const all = db.query<{ kind: string; key: string; revision: bigint }, []>(
        "SELECT kind, key, revision FROM documents",
      )
      for (const row of all.iterate()) headsOf(row.kind).set(row.key, { key: row.key, revision: row.revision })
    })
    const nextRevision = (): bigint => q.nextRevision.get()!.value
    const range = (kind: string, prefix: string, after: string | undefined, limit: number | undefined) => {
      const items: RawDoc[] = []
      // A range scan from the prefix; stop at the first key outside it (rows come in key order).
      for (const row of q.range.iterate(kind, prefix, after ?? "")) {
        if (!row.key.startsWith(prefix)) break
        if (limit !== undefined && items.length >= limit) return { items, more: true }
        items.push(toDoc(row))
      }
      return { items, more: false }
    }

    // One group-commit writer (the ODGM's too): concurrent writes share one transaction and one
    // fsync; each write's watch events are announced after COMMIT, in batch (= revision) order.
    const writer = yield* makeWriter(db, { groupCommit: true, maxBatch: 1024 })
    const announce = (changes: ReadonlyArray<readonly [kind: string, Change<string>]>) => () => {
      for (const [kind, change] of changes) {
        if (change._tag === "Put") {
          headsOf(kind).set(change.item.key, { key: change.item.key, revision: change.item.revision })
        } else headsOf(kind).delete(change.key)
        hub.publish(kind, change)
      }
    }

    const conflict = (kind: string, key: string, expected: bigint, actual: Row | null) =>
      new VersionConflict({
        resource: kind,
        name: key,
        expected: expected.toString(),
        ...(actual ? { actual: actual.revision.toString() } : {}),
      })
    const put = (kind: string, key: string, json: string, current: Row | null): JobResult<RawDoc, never> => {
      const revision = nextRevision()
      if (current === null) q.insert.run(kind, key, json, revision, revision)
      else q.update.run(json, revision, kind, key)
      const item: RawDoc = { key, value: json, revision, createRevision: current?.create_revision ?? revision }
      return ok(item, announce([[kind, { _tag: "Put", item }]]))
    }

    const backend: RawBackend = {
      backend: "sqlite",
      ready: read("ready", () => q.storeRevision.get()).pipe(Effect.asVoid),
      get: (kind, key) => read("get", () => Option.map(Option.fromNullishOr(q.get.get(kind, key)), toDoc)),
      revisionNow: (kind, key) => headsOf(kind).get(key)?.revision,
      list: (kind, prefix, after, limit) => read("list", () => range(kind, prefix, after, limit)),
      listRevisions: (kind, prefix, after, limit) => Effect.sync(() => headsOf(kind).range(prefix, after, limit)),
      create: (kind, key, json) =>
        writer.write("create", (): JobResult<RawDoc, AlreadyExists> =>
          q.get.get(kind, key) !== null
            ? failed(new AlreadyExists({ resource: kind, name: key }))
            : put(kind, key, json, null)),
      update: (kind, key, json, expected) =>
        writer.write("update", (): JobResult<RawDoc, NotFound | VersionConflict> => {
          const current = q.get.get(kind, key)
          if (expected !== undefined && current?.revision !== expected) {
            return failed(conflict(kind, key, expected, current))
          }
          if (current === null) {
            return failed(new NotFound({ resource: kind, name: key }))
          }
          return put(kind, key, json, current)
        }),
      upsert: (kind, key, json) => writer.write("upsert", () => put(kind, key, json, q.get.get(kind, key))),
      delete: (kind, key, expected) =>
        writer.write("delete", (): JobResult<boolean, VersionConflict> => {
          const current = q.get.get(kind, key)
          if (expected !== undefined && current?.revision !== expected) {
            return failed(conflict(kind, key, expected, current))
          }
          if (current === null) return ok(false)
          q.delete.run(kind, key)
          return ok(true, announce([[kind, { _tag: "Delete", key, revision: nextRevision() }]]))
        }),
      // Items and revision come from one synchronous read, so they agree; ChangeHub drops live
      // events at or below that revision (already in the snapshot).
      subscribe: (kind, includeExisting) =>
        hub.subscribe(
          kind,
          includeExisting
            ? read(
              "watch snapshot",
              () => ({
                items: range(kind, "", undefined, undefined).items,
                revision: q.storeRevision.get()!.value,
              }),
            )
            : undefined,
        ),
    }
    return backend
  })
