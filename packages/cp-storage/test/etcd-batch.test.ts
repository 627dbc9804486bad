// Concurrent writes on etcd share txns (src/etcd/batch.ts): each still gets its own answer, a
// failed compare in a shared txn fails only its own write, and the others land.
import { afterAll, beforeAll, expect, test } from "bun:test"
import { Effect, Option, Result, Schema } from "effect"
import { type EtcdServer, startEtcd } from "@oprc/test-harness"
import { ControlPlaneStore, type DocumentCollection } from "../src/index.ts"

let etcd: EtcdServer | undefined
beforeAll(async () => {
  etcd = await startEtcd()
})
afterAll(() => etcd?.stop())

const Doc = Schema.Struct({ n: Schema.Number })
const withDocs = <A>(
  prefix: string,
  body: (c: DocumentCollection<typeof Doc.Type>) => Effect.Effect<A, unknown>,
) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const store = yield* ControlPlaneStore
      return yield* body(store.collection("docs", Doc))
    }).pipe(Effect.scoped, Effect.provide(ControlPlaneStore.layerEtcd({ endpoints: etcd!.endpoints, prefix }))),
  )

test(
  "concurrent creates share txns; the ones whose key exists fail alone",
  () =>
    withDocs("/batch-creates", (c) =>
      Effect.gen(function*() {
        yield* Effect.forEach(Array.from({ length: 10 }, (_, i) => `taken${i}`), (k) => c.create(k, { n: -1 }))
        const keys = [
          ...Array.from({ length: 60 }, (_, i) => `new${i}`),
          ...Array.from({ length: 10 }, (_, i) => `taken${i}`),
        ]
        const results = yield* Effect.forEach(keys, (k, i) => Effect.result(c.create(k, { n: i })), {
          concurrency: "unbounded",
        })
        const created = results.flatMap((r) => (Result.isSuccess(r) ? [r.success] : []))
        const refused = results.flatMap((r) => (Result.isFailure(r) ? [(r.failure as { _tag: string })._tag] : []))
        expect(created.map((v) => v.key).sort()).toEqual(keys.slice(0, 60).sort())
        expect(refused).toEqual(Array(10).fill("AlreadyExists"))
        // Shared txns: fewer distinct revisions than writes (else nothing was batched).
        expect(new Set(created.map((v) => v.revision)).size).toBeLessThan(60)
        for (const v of created) {
          expect(Option.getOrThrow(yield* c.get(v.key)).value.n).toBe(Number(v.key.slice(3)))
          expect(v.createRevision).toBe(v.revision)
        }
        for (let i = 0; i < 10; i++) expect(Option.getOrThrow(yield* c.get(`taken${i}`)).value.n).toBe(-1)
      })),
  30_000,
)

test(
  "concurrent conditional updates: stale ones conflict, current ones land, one txn or many",
  () =>
    withDocs("/batch-updates", (c) =>
      Effect.gen(function*() {
        const docs = yield* Effect.forEach(
          Array.from({ length: 40 }, (_, i) => `d${i}`),
          (k) => c.create(k, { n: 0 }),
          {
            concurrency: "unbounded",
          },
        )
        // Even keys are updated with their current revision, odd keys with a stale one.
        const results = yield* Effect.forEach(
          docs,
          (d, i) => Effect.result(c.update(d.key, { n: 1 }, i % 2 === 0 ? d.revision : d.revision - 1n)),
          { concurrency: "unbounded" },
        )
        results.forEach((r, i) => {
          if (i % 2 === 0) {
            expect(Result.isSuccess(r)).toBe(true)
            if (Result.isSuccess(r)) {
              expect(r.success.createRevision).toBe(docs[i]!.createRevision)
            }
          } else {
            expect(Result.isFailure(r) && (r.failure as { _tag: string })._tag).toBe("VersionConflict")
          }
        })
        for (let i = 0; i < 40; i++) {
          expect(Option.getOrThrow(yield* c.get(`d${i}`)).value.n).toBe(i % 2 === 0 ? 1 : 0)
        }
        // Many unconditional updates of one key: one per txn, each its own revision.
        const revs = yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => i),
          (i) => c.update("d0", { n: 100 + i }),
          {
            concurrency: "unbounded",
          },
        )
        expect(
          new Set(revs.map((r) => r.revision)).size,
        ).toBe(20)
      })),
  30_000,
)
