// Child process for the crash test: commits objects through the SQLite store (8 in flight) and
// prints "ack <i>" only after each commit resolved, until it is SIGKILLed.
import { Effect } from "effect"
import { ObjectStoreService } from "../../src/storage/ObjectStore.ts"

const path = process.argv[2]!
const write = (i: number) =>
  Effect.gen(function*() {
    const store = yield* ObjectStoreService
    yield* store.commit({
      ref: { cls: "crash", partition: i % 2, id: `o${i}` },
      next: { entries: { i: { _tag: "Json", value: i } }, triggers: [] },
      expectedVersion: 0n,
      events: [{ id: `crash-${i}`, payload: { i }, availableAt: 0 }],
    })
    process.stdout.write(`ack ${i}\n`)
  })
await Effect.runPromise(
  Effect.forEach(Array.from({ length: 1_000_000 }, (_, i) => i), write, { concurrency: 8, discard: true }).pipe(
    Effect.provide(ObjectStoreService.layerSqlite({ path })),
  ),
)
