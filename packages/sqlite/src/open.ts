import { Database } from "bun:sqlite"

export interface OpenOptions {
  /** Columns declared INTEGER come back as bigint (revisions that outgrow 2^53). */
  readonly safeIntegers?: boolean
  /** How long a statement waits for another connection's lock before SQLITE_BUSY. */
  readonly busyTimeoutMs?: number
}

/**
 * Opens (creating it) a database file for durable writes: WAL lets readers run during a commit;
 * synchronous=FULL fsyncs the WAL on every commit, so an acknowledged write survives a power loss
 * (NORMAL would only survive a process crash; docs/storage-engines.md §1 has the cost). Throws
 * like bun:sqlite does; callers turn that into their StorageError.
 */
export const openDatabase = (path: string, options: OpenOptions = {}): Database => {
  const db = new Database(path, {
    create: true,
    readwrite: true,
    strict: true,
    safeIntegers: options.safeIntegers ?? false,
  })
  db.run("PRAGMA journal_mode = WAL")
  db.run("PRAGMA synchronous = FULL")
  db.run(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`)
  return db
}
