import { afterAll, expect, test } from "bun:test"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer, Option } from "effect"
import { ObjectStoreService } from "../../src/storage/ObjectStore.ts"
import { makeSqliteStore } from "../../src/storage/sqlite/SqliteStore.ts"
import { conformance, newNamespace, runIn, type Backend } from "./conformance.ts"
import { commitRate } from "./bench.ts"

const dir = mkdtempSync(join(tmpdir(), "oprc-odgm-sqlite-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const backend: Backend = {
  layer: (ns) => ObjectStoreService.layerSqlite({ path: join(dir, `${ns}.db`) }),
  persistent: true,
}
conformance("sqlite", () => backend)

test("sqlite: group commit batches concurrent writes into fewer fsyncs", async () => {
  const layer = (groupCommit: boolean) => Layer.effect(ObjectStoreService)(makeSqliteStore({ path: join(dir, `bench-${groupCommit}.db`), groupCommit }))
  const grouped = await commitRate(layer(true), 32, 2000)
  const single = await commitRate(layer(false), 32, 2000)
  const grouped1 = await commitRate(layer(true), 1, 1000)
  console.log(`sqlite commits/s (synchronous=FULL): 32 writers group commit ${grouped}, 32 writers one txn per write ${single}, 1 writer group commit ${grouped1}`)
  expect(grouped).toBeGreaterThan(single * 2)
}, 30_000)

test("sqlite: the file is WAL with synchronous=FULL, and a reopened store sees every acknowledged write", async () => {
  const ns = newNamespace()
  await runIn(backend, ns, Effect.gen(function* () {
    const store = yield* ObjectStoreService
    yield* Effect.forEach(Array.from({ length: 300 }, (_, i) => i), (i) =>
      store.commit({ ref: { cls: "c", partition: i % 3, id: `o${i}` }, next: { entries: {}, triggers: [i] }, expectedVersion: 0n, events: [] }),
      { concurrency: 64, discard: true })
  }))
  const db = new (await import("bun:sqlite")).Database(join(dir, `${ns}.db`), { readonly: true })
  expect(db.query<{ journal_mode: string }, []>("PRAGMA journal_mode").get()?.journal_mode).toBe("wal")
  db.close()
  await runIn(backend, ns, Effect.gen(function* () {
    const store = yield* ObjectStoreService
    for (let i = 0; i < 300; i++) {
      const o = Option.getOrThrow(yield* store.get({ cls: "c", partition: i % 3, id: `o${i}` }))
      expect(o.triggers).toEqual([i])
    }
  }))
})
