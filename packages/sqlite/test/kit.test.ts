import { expect, test } from "bun:test"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Scope } from "effect"
import { makeWriter, ok, openDatabase } from "../src/index.ts"

const withDir = async (f: (dir: string) => Promise<void>) => {
  const dir = mkdtempSync(join(tmpdir(), "oprc-sqlite-"))
  try {
    await f(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

test("a database opens durable: WAL, synchronous=FULL, a busy timeout", () =>
  withDir(async (dir) => {
    const db = openDatabase(join(dir, "a.sqlite"))
    expect(db.query<{ journal_mode: string }, []>("PRAGMA journal_mode").get()?.journal_mode).toBe("wal")
    expect(db.query<{ synchronous: number }, []>("PRAGMA synchronous").get()?.synchronous).toBe(2)
    expect(db.query<{ timeout: number }, []>("PRAGMA busy_timeout").get()?.timeout).toBe(5000)
    db.close()
  }))

test("concurrent writes commit together, after-commit hooks run in order, a closed writer refuses at once", () =>
  withDir(async (dir) => {
    const db = openDatabase(join(dir, "b.sqlite"))
    db.run("CREATE TABLE t (n INTEGER)")
    const scope = Effect.runSync(Scope.make())
    const writer = await Effect.runPromise(Scope.provide(scope)(makeWriter(db, { groupCommit: true, maxBatch: 64 })))
    const announced: Array<number> = []
    const writes = Array.from({ length: 20 }, (_, n) =>
      writer.write("insert", (d) => {
        d.run("INSERT INTO t (n) VALUES (?)", [n])
        return ok(n, () => announced.push(n))
      }))
    const results = await Effect.runPromise(Effect.all(writes, { concurrency: "unbounded" }))
    expect(results).toEqual(Array.from({ length: 20 }, (_, n) => n))
    expect(announced).toEqual(results)
    expect(db.query<{ c: number }, []>("SELECT count(*) AS c FROM t").get()?.c).toBe(20)
    await Effect.runPromise(Scope.close(scope, Exit.void))
    const late = await Effect.runPromise(Effect.flip(writer.write("insert", () => ok(0))))
    expect([late._tag, late.retryable]).toEqual(["StorageError", false])
    db.close()
  }))
