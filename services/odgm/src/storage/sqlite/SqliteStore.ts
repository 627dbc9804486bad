import { Database } from "bun:sqlite"
import { Clock, Effect, Option, type Scope } from "effect"
import { NotFound } from "@oprc/models"
import type { ObjectRef, StoredObject } from "../../domain/types.ts"
import type { ClaimedEvent, DeadLetter, ObjectStore, OutboxEvent } from "../ObjectStore.ts"
import { type StorageError } from "../errors.ts"
import {
  compareIds,
  decide,
  decodeCursor,
  encodeCursor,
  fromJson,
  leaseOf,
  newToken,
  type ObjectHead,
  type ObjectJson,
  type Position,
  prefixEnd,
  storageError,
  toJson,
  validateLimit,
} from "../common.ts"
import { failed, makeWriter, ok } from "@oprc/sqlite"
import { tracedFn } from "@oprc/observability"

/**
 * The embedded engine: one SQLite file, WAL, synchronous=FULL (a COMMIT returns after fsync, so
 * an acknowledged write survives a crash or power loss), writes batched by group commit
 * (@oprc/sqlite GroupCommit.ts). The outbox rows are inserted in the same transaction as the object row, so
 * an event exists iff its write committed. Reads go straight to the connection: bun:sqlite is
 * synchronous, so they always see whole batches.
 */

export interface SqliteOptions {
  readonly path: string
  /** Default true; false = one transaction per write (benchmarks). */
  readonly groupCommit?: boolean
  readonly maxBatch?: number
  readonly sweepInterval?: `${number} seconds` | `${number} millis`
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS objects (
  cls TEXT NOT NULL, partition INTEGER NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (cls, partition, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
  id TEXT NOT NULL UNIQUE, event TEXT NOT NULL, due_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, token TEXT, last_error TEXT);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (due_at);
CREATE TABLE IF NOT EXISTS dead_letters (
  id TEXT PRIMARY KEY, event TEXT NOT NULL, attempts INTEGER NOT NULL, error TEXT NOT NULL, dead_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS results (id TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER NOT NULL, final INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS results_expiry ON results (expires_at);
`

/** Rows read and decoded per synchronous step of a listing. */
const LIST_CHUNK = 100

interface ObjectRow {
  partition: number
  id: string
  body: string
}
interface OutboxRow {
  id: string
  event: string
  attempts: number
}
interface DeadRow {
  id: string
  event: string
  attempts: number
  error: string
  dead_at: number
}

const open = (path: string) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        const db = new Database(path, { create: true, strict: true })
        db.run("PRAGMA journal_mode = WAL")
        db.run("PRAGMA synchronous = FULL")
        db.run("PRAGMA busy_timeout = 5000")
        db.run(SCHEMA)
        // Files written before invocation records were final or not: every old result counts as final.
        if (!db.query<{ name: string }, []>("PRAGMA table_info(results)").all().some((c) => c.name === "final")) {
          db.run("ALTER TABLE results ADD COLUMN final INTEGER NOT NULL DEFAULT 1")
        }
        return db
      },
      catch: storageError("open", true),
    }),
    (db) => Effect.sync(() => db.close()),
  )

const readObject = (ref: ObjectRef, row: ObjectRow | null): StoredObject | undefined =>
  row ? fromJson({ cls: ref.cls, partition: row.partition, id: row.id }, JSON.parse(row.body) as ObjectJson) : undefined

const readHead = (row: { version: number; c: number } | null): ObjectHead | undefined =>
  row ? { version: BigInt(row.version), createdAt: row.c } : undefined

export const makeSqliteStore = (options: SqliteOptions): Effect.Effect<ObjectStore, StorageError, Scope.Scope> =>
  Effect.gen(function*() {
    const db = yield* open(options.path)
    const writer = yield* makeWriter(db, {
      groupCommit: options.groupCommit ?? true,
      maxBatch: options.maxBatch ?? 512,
    })
    const q = {
      get: db.query<ObjectRow, [string, number, string]>(
        "SELECT partition, id, body FROM objects WHERE cls = ? AND partition = ? AND id = ?",
      ),
      // The compare-and-swap needs only the version and createdAt: SQLite pulls `c` out of the body
      // in C, half the cost of parsing a 3.5 MB body in JS (docs/odgm.md "Large objects").
      head: db.query<{ version: number; c: number }, [string, number, string]>(
        "SELECT version, json_extract(body, '$.c') AS c FROM objects WHERE cls = ? AND partition = ? AND id = ?",
      ),
      upsert: db.query(
        "INSERT INTO objects (cls, partition, id, version, body) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET version = excluded.version, body = excluded.body",
      ),
      remove: db.query("DELETE FROM objects WHERE cls = ? AND partition = ? AND id = ?"),
      // A duplicate event id of a still-pending or dead event is recorded once (idempotency key).
      enqueue: db.query(
        "INSERT INTO outbox (id, event, due_at) SELECT ?1, ?2, ?3 WHERE NOT EXISTS (SELECT 1 FROM dead_letters WHERE id = ?1) ON CONFLICT DO NOTHING",
      ),
      // Listing walks the primary key (cls, partition, id) one partition at a time: an id range
      // [from, to) per partition is an index seek, never a scan of the class.
      listRange: db.query<ObjectRow, [string, number, string, string, number]>(
        "SELECT partition, id, body FROM objects WHERE cls = ?1 AND partition = ?2 AND id >= ?3 AND id < ?4 ORDER BY id LIMIT ?5",
      ),
      listFrom: db.query<ObjectRow, [string, number, string, number]>(
        "SELECT partition, id, body FROM objects WHERE cls = ?1 AND partition = ?2 AND id >= ?3 ORDER BY id LIMIT ?4",
      ),
      nextPartition: db.query<{ partition: number }, [string, number]>(
        "SELECT partition FROM objects WHERE cls = ?1 AND partition > ?2 ORDER BY partition LIMIT 1",
      ),
      due: db.query<OutboxRow, [number, number]>(
        "SELECT id, event, attempts FROM outbox WHERE due_at <= ? ORDER BY due_at, rowid LIMIT ?",
      ),
      lease: db.query("UPDATE outbox SET due_at = ?, attempts = attempts + 1, token = ? WHERE id = ?"),
      ack: db.query("DELETE FROM outbox WHERE id = ?"),
      renew: db.query("UPDATE outbox SET due_at = ? WHERE id = ? AND token = ? AND due_at > ?"),
      retry: db.query(
        "UPDATE outbox SET due_at = ?, token = NULL, last_error = ? WHERE id = ? AND token = ? AND due_at > ?",
      ),
      leased: db.query<OutboxRow, [string, string, number]>(
        "SELECT id, event, attempts FROM outbox WHERE id = ? AND token = ? AND due_at > ?",
      ),
      bury: db.query(
        "INSERT OR REPLACE INTO dead_letters (id, event, attempts, error, dead_at) VALUES (?, ?, ?, ?, ?)",
      ),
      dead: db.query<DeadRow, [string, number]>("SELECT * FROM dead_letters WHERE id > ? ORDER BY id LIMIT ?"),
      deadOne: db.query<DeadRow, [string]>("SELECT * FROM dead_letters WHERE id = ?"),
      unbury: db.query("DELETE FROM dead_letters WHERE id = ?"),
      // A non-final result (?4 = 0) never replaces a live final one.
      putResult: db.query(
        `INSERT INTO results (id, value, expires_at, final) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO UPDATE
         SET value = excluded.value, expires_at = excluded.expires_at, final = excluded.final WHERE ?4 = 1 OR final = 0 OR expires_at <= ?5`,
      ),
      getResult: db.query<{ value: string }, [string, number]>(
        "SELECT value FROM results WHERE id = ? AND expires_at > ?",
      ),
      getFinal: db.query<{ value: string }, [string, number]>(
        "SELECT value FROM results WHERE id = ? AND expires_at > ? AND final = 1",
      ),
      // The process that held these leases is gone (one process per file): due again now.
      release: db.query("UPDATE outbox SET due_at = ?1, token = NULL WHERE token IS NOT NULL AND due_at > ?1"),
      sweep: db.query("DELETE FROM results WHERE expires_at <= ?"),
    }
    /**
     * Up to `want` rows in (partition, id) order after `after`, restricted to one partition and an
     * id prefix. Cost: one index seek per partition visited plus the rows returned.
     */
    const listRows = (
      cls: string,
      partition: number | undefined,
      prefix: string,
      after: Position | undefined,
      want: number,
    ): ObjectRow[] => {
      const end = prefixEnd(prefix)
      const out: ObjectRow[] = []
      let p: number | undefined = partition ?? (after ? after.partition : q.nextPartition.get(cls, -1)?.partition)
      if (after && partition !== undefined && after.partition > partition) return out
      let from: string | undefined = after && after.partition === p ? after.id : undefined
      while (p !== undefined && out.length < want) {
        // Strictly after the cursor's id: its successor in byte order is id + "\0".
        const lower = from === undefined ? prefix : compareIds(from, prefix) >= 0 ? `${from}\u0000` : prefix
        const rows = end === undefined
          ? q.listFrom.all(cls, p, lower, want - out.length)
          : q.listRange.all(cls, p, lower, end, want - out.length)
        out.push(...rows)
        if (partition !== undefined) break
        p = q.nextPartition.get(cls, p)?.partition
        from = undefined
      }
      return out
    }
    const read = <A>(operation: string, f: () => A) => Effect.try({ try: f, catch: storageError(operation, true) })
    const toDead = (r: DeadRow): DeadLetter => ({
      event: JSON.parse(r.event) as OutboxEvent,
      attempts: r.attempts,
      error: r.error,
      deadAt: r.dead_at,
    })

    const store: ObjectStore = {
      inlineGets: true,
      // Untraced: the hottest read of the platform; the request's server span covers it.
      get: (ref) =>
        Effect.map(read("get", () => readObject(ref, q.get.get(ref.cls, ref.partition, ref.id))), Option.fromNullishOr),

      commit: tracedFn("SqliteStore.commit")(function*(req) {
        const now = yield* Clock.currentTimeMillis
        const { cls, partition, id } = req.ref
        // A CAS that is already stale fails at once instead of waiting for a batch's fsync: a
        // valid answer, since the object was not at the expected version at this instant.
        if (req.expectedVersion !== undefined) {
          const d = decide(yield* read("commit", () => readHead(q.head.get(cls, partition, id))), req, now)
          if (d._tag === "Conflict") return yield* d.error
        }
        const invocation = req.invocation && {
          ...req.invocation,
          json: yield* Effect.try({
            try: () => JSON.stringify(req.invocation!.result) ?? "null",
            catch: storageError("commit"),
          }),
        }
        return yield* writer.write("commit", () => {
          // The CAS check runs inside the batch's transaction, after the writes queued before it.
          const d = decide(readHead(q.head.get(cls, partition, id)), req, now)
          if (d._tag === "Conflict") return failed(d.error)
          if (d.stored) q.upsert.run(cls, partition, id, Number(d.stored.version), JSON.stringify(toJson(d.stored)))
          else q.remove.run(cls, partition, id)
          for (const e of req.events) q.enqueue.run(e.id, JSON.stringify(e), e.availableAt)
          if (invocation) {
            q.putResult.run(invocation.id, invocation.json, now + invocation.ttlMs, invocation.final ? 1 : 0, now)
          }
          return ok(d.stored)
        })
      }),

      list: tracedFn("SqliteStore.list")(function*(query) {
        const limit = yield* validateLimit("list", query.limit)
        const after = yield* decodeCursor("list", query.cursor)
        // bun:sqlite is synchronous: a large page is read and decoded in chunks, yielding between
        // them, so other requests on this event loop are not held up for the whole page.
        const items: StoredObject[] = []
        let from = after
        let more = false
        while (items.length < limit) {
          const want = Math.min(LIST_CHUNK, limit - items.length)
          const rows = yield* read(
            "list",
            () => listRows(query.cls, query.partition, query.prefix ?? "", from, want + 1),
          )
          items.push(
            ...(yield* read(
              "list",
              () =>
                rows.slice(0, want).flatMap((r) =>
                  readObject({ cls: query.cls, partition: r.partition, id: r.id }, r) ?? []
                ),
            )),
          )
          more = rows.length > want
          if (!more) break
          from = items[items.length - 1]
          yield* Effect.yieldNow
        }
        const last = items[items.length - 1]
        return more && last ? { items, nextCursor: encodeCursor(last) } : { items }
      }),

      deleteClass: (cls) =>
        writer.write("deleteClass", (db) => ok(db.query("DELETE FROM objects WHERE cls = ?").run(cls).changes)),

      claimEvents: tracedFn("SqliteStore.claimEvents")(function*(max, leaseMs) {
        const now = yield* Clock.currentTimeMillis
        const token = yield* newToken
        return yield* writer.write("claimEvents", () =>
          ok(
            q.due.all(now, max).map((r): ClaimedEvent => {
              const event = JSON.parse(r.event) as OutboxEvent
              q.lease.run(now + leaseOf(leaseMs, event), token, r.id)
              return { event, attempts: r.attempts + 1, claimToken: token }
            }),
          ))
      }),

      ackEvent: (claim) => writer.write("ackEvent", () => ok(void q.ack.run(claim.event.id))),

      renewEvent: tracedFn("SqliteStore.renewEvent")(function*(claim, leaseMs) {
        const now = yield* Clock.currentTimeMillis
        yield* writer.write(
          "renewEvent",
          () => ok(void q.renew.run(now + leaseMs, claim.event.id, claim.claimToken, now)),
        )
      }),

      retryEvent: tracedFn("SqliteStore.retryEvent")(function*(claim, availableAt, error) {
        const now = yield* Clock.currentTimeMillis
        yield* writer.write(
          "retryEvent",
          () => ok(void q.retry.run(availableAt, error, claim.event.id, claim.claimToken, now)),
        )
      }),

      deadLetter: tracedFn("SqliteStore.deadLetter")(function*(claim, error) {
        const now = yield* Clock.currentTimeMillis
        yield* writer.write("deadLetter", () => {
          const row = q.leased.get(claim.event.id, claim.claimToken, now)
          if (!row) return ok(undefined)
          q.bury.run(row.id, row.event, row.attempts, error, now)
          q.ack.run(row.id)
          return ok(undefined)
        })
      }),

      listDeadLetters: tracedFn("SqliteStore.listDeadLetters")(function*(query) {
        const limit = yield* validateLimit("listDeadLetters", query.limit)
        const rows = yield* read("listDeadLetters", () => q.dead.all(query.cursor ?? "", limit + 1))
        const items = yield* read("listDeadLetters", () => rows.slice(0, limit).map(toDead))
        const last = items[items.length - 1]
        return rows.length > limit && last ? { items, nextCursor: last.event.id } : { items }
      }),

      redrive: tracedFn("SqliteStore.redrive")(function*(eventId) {
        const now = yield* Clock.currentTimeMillis
        yield* writer.write("redrive", () => {
          const row = q.deadOne.get(eventId)
          if (!row) return failed(new NotFound({ resource: "dead letter", name: eventId }))
          q.unbury.run(eventId)
          q.ack.run(eventId)
          q.enqueue.run(eventId, row.event, now)
          return ok(undefined)
        })
      }),

      discard: (eventId) =>
        writer.write(
          "discard",
          () =>
            q.unbury.run(eventId).changes > 0
              ? ok(undefined)
              : failed(new NotFound({ resource: "dead letter", name: eventId })),
        ),

      putResult: tracedFn("SqliteStore.putResult")(function*(id, result, ttlMs, final) {
        const now = yield* Clock.currentTimeMillis
        const json = yield* Effect.try({ try: () => JSON.stringify(result), catch: storageError("putResult") })
        yield* writer.write(
          "putResult",
          () => ok(void q.putResult.run(id, json ?? "null", now + ttlMs, final ? 1 : 0, now)),
        )
      }),

      getInvoked: tracedFn("SqliteStore.getInvoked")(function*(ref, invocationId) {
        const now = yield* Clock.currentTimeMillis
        return yield* read("getInvoked", () => {
          const row = q.getFinal.get(invocationId, now)
          return {
            object: Option.fromNullishOr(readObject(ref, q.get.get(ref.cls, ref.partition, ref.id))),
            recorded: row ? Option.some<unknown>(JSON.parse(row.value)) : Option.none(),
          }
        })
      }),

      getResult: tracedFn("SqliteStore.getResult")(function*(id) {
        const now = yield* Clock.currentTimeMillis
        return yield* read("getResult", () => {
          const row = q.getResult.get(id, now)
          return row ? Option.some<unknown>(JSON.parse(row.value)) : Option.none()
        })
      }),

      ready: read("ready", () => void db.query("SELECT 1").get()),
    }

    yield* Effect.flatMap(Clock.currentTimeMillis, (now) => writer.write("release", () => ok(void q.release.run(now))))
    // Expired results are invisible at once (getResult checks expires_at); the sweep reclaims space.
    const sweep = Effect.flatMap(
      Clock.currentTimeMillis,
      (now) => writer.write("sweep", () => ok(void q.sweep.run(now))),
    )
    yield* sweep.pipe(
      Effect.catchTag("StorageError", (e: StorageError) => Effect.logWarning("results sweep failed", e)),
      Effect.delay(options.sweepInterval ?? "30 seconds"),
      Effect.forever,
      Effect.forkScoped,
    )
    return store
  })
