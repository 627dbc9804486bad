import { Database, type Statement } from "bun:sqlite"
import { mkdirSync } from "node:fs"
import { dirname } from "node:path"
import { Effect, Option } from "effect"
import { AlreadyExists, NotFound, VersionConflict, StorageError } from "@oprc/models"
import type { RawBackend, RawDoc } from "./internal/backend.ts"
import { makeChangeHub } from "./internal/ChangeHub.ts"
import { makeGroupCommit, type Outcome } from "./internal/GroupCommit.ts"

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

const toDoc = (r: Row): RawDoc => ({ key: r.key, value: r.value, revision: r.revision, createRevision: r.create_revision })

const sqliteError = (what: string) => (cause: unknown) =>
  new StorageError({ reason: `sqlite ${what}: ${String(cause)}`, retryable: /SQLITE_BUSY|locked/i.test(String(cause)) })

const open = (path: string) =>
  Effect.try({
    try: () => {
      if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true })
      const db = new Database(path, { create: true, readwrite: true, strict: true, safeIntegers: true })
      // WAL lets readers run during a commit; FULL fsyncs the WAL on every commit so an
      // acknowledged write survives a power loss (NORMAL would only survive a crash).
      db.exec("PRAGMA journal_mode = WAL")
      db.exec("PRAGMA synchronous = FULL")
      db.exec("PRAGMA busy_timeout = 5000")
      db.exec(SCHEMA)
      return db
    },
    catch: sqliteError(`open ${path}`),
  })

/** The embedded backend: one SQLite file, one writer process (the PM), watch fed in-process. */
export const makeSqliteBackend = (options: { readonly path: string }) =>
  Effect.gen(function* () {
    const db = yield* Effect.acquireRelease(open(options.path), (db) => Effect.sync(() => db.close(false)))
    const hub = yield* makeChangeHub
    yield* Effect.addFinalizer(() => hub.shutdown)

    const q = {
      get: db.query<Row, [string, string]>("SELECT key, value, revision, create_revision FROM documents WHERE kind = ? AND key = ?"),
      range: db.query<Row, [string, string, string]>(
        "SELECT key, value, revision, create_revision FROM documents WHERE kind = ? AND key >= ? AND key > ? ORDER BY key"),
      nextRevision: db.query<{ value: bigint }, []>("UPDATE meta SET value = value + 1 WHERE name = 'revision' RETURNING value"),
      revision: db.query<{ value: bigint }, []>("SELECT value FROM meta WHERE name = 'revision'"),
      insert: db.query<null, [string, string, string, bigint, bigint]>(
        "INSERT INTO documents (kind, key, value, revision, create_revision) VALUES (?, ?, ?, ?, ?)"),
      update: db.query<null, [string, bigint, string, string]>("UPDATE documents SET value = ?, revision = ? WHERE kind = ? AND key = ?"),
      delete: db.query<null, [string, string]>("DELETE FROM documents WHERE kind = ? AND key = ?"),
    }
    const read = <A>(what: string, f: () => A) => Effect.try({ try: f, catch: sqliteError(what) })
    const nextRevision = (): bigint => q.nextRevision.get()!.value
    const range = (stmt: Statement<Row, [string, string, string]>, kind: string, prefix: string, after: string | undefined, limit: number | undefined) => {
      const items: RawDoc[] = []
      // A range scan from the prefix; stop at the first key outside it (rows come in key order).
      for (const row of stmt.iterate(kind, prefix, after ?? "")) {
        if (!row.key.startsWith(prefix)) break
        if (limit !== undefined && items.length >= limit) return { items, more: true }
        items.push(toDoc(row))
      }
      return { items, more: false }
    }

    const tx = db.transaction((run: () => void) => run())
    const commits = yield* makeGroupCommit((run) => tx.immediate(run), hub.publish)

    const conflict = (kind: string, key: string, expected: bigint, actual: Row | null) =>
      new VersionConflict({
        resource: kind,
        name: key,
        expected: expected.toString(),
        ...(actual ? { actual: actual.revision.toString() } : {}),
      })
    const put = (kind: string, key: string, json: string, current: Row | null): Outcome<RawDoc, never> => {
      const revision = nextRevision()
      if (current === null) q.insert.run(kind, key, json, revision, revision)
      else q.update.run(json, revision, kind, key)
      const item: RawDoc = { key, value: json, revision, createRevision: current?.create_revision ?? revision }
      return { _tag: "Ok", value: item, changes: [[kind, { _tag: "Put", item }]] }
    }

    const backend: RawBackend = {
      backend: "sqlite",
      ready: read("ready", () => q.revision.get()).pipe(Effect.asVoid),
      get: (kind, key) => read("get", () => Option.map(Option.fromNullishOr(q.get.get(kind, key)), toDoc)),
      list: (kind, prefix, after, limit) => read("list", () => range(q.range, kind, prefix, after, limit)),
      create: (kind, key, json) =>
        commits.write((): Outcome<RawDoc, AlreadyExists> =>
          q.get.get(kind, key) !== null
            ? { _tag: "Err", error: new AlreadyExists({ resource: kind, name: key }) }
            : put(kind, key, json, null)),
      update: (kind, key, json, expected) =>
        commits.write((): Outcome<RawDoc, NotFound | VersionConflict> => {
          const current = q.get.get(kind, key)
          if (expected !== undefined && current?.revision !== expected) {
            return { _tag: "Err", error: conflict(kind, key, expected, current) }
          }
          if (current === null) return { _tag: "Err", error: new NotFound({ resource: kind, name: key }) }
          return put(kind, key, json, current)
        }),
      upsert: (kind, key, json) => commits.write(() => put(kind, key, json, q.get.get(kind, key))),
      delete: (kind, key, expected) =>
        commits.write((): Outcome<boolean, VersionConflict> => {
          const current = q.get.get(kind, key)
          if (expected !== undefined && current?.revision !== expected) {
            return { _tag: "Err", error: conflict(kind, key, expected, current) }
          }
          if (current === null) return { _tag: "Ok", value: false, changes: [] }
          q.delete.run(kind, key)
          return { _tag: "Ok", value: true, changes: [[kind, { _tag: "Delete", key, revision: nextRevision() }]] }
        }),
      // Items and revision come from one synchronous read, so they agree; ChangeHub drops live
      // events at or below that revision (already in the snapshot).
      subscribe: (kind, includeExisting) =>
        hub.subscribe(kind, includeExisting
          ? read("watch snapshot", () => ({ items: range(q.range, kind, "", undefined, undefined).items, revision: q.revision.get()!.value }))
          : undefined),
    }
    return backend
  })
