// bench/odgm/idempotency.ts: the CPU cost of idempotency bookkeeping on sync invoke, measured
// inside one process so wrk, the HTTP server and the other load on the shared machine do not
// drown a ~10 % difference: ODGM's Invoker over SQLite (WAL, synchronous=FULL, group commit) calls
// a real function process (`touch`, stateful) with and without an invocation id, in alternating
// rounds of `N` invocations, 16 in flight; CPU is this process's user+system time per invocation
// (the Invoker, the store, the outgoing Connect call), so the function process is not counted.
// Usage: bun bench/odgm/idempotency.ts [rounds] [invocationsPerRound]
import { join } from "node:path"
import { benchDir } from "../lib/report"
import { Effect, Layer, ManagedRuntime, Option, Schema } from "effect"
import { decodeCollection } from "@oprc/models"
import { Health } from "@oprc/observability"
import { CollectionRegistry } from "../../services/odgm/src/collections/CollectionRegistry.ts"
import { OdgmConfig } from "../../services/odgm/src/config.ts"
import { doneRecord, fingerprint } from "../../services/odgm/src/domain/records.ts"
import { external } from "../../services/odgm/src/domain/types.ts"
import { Invoker } from "../../services/odgm/src/invocation/Invoker.ts"
import { OdgmServices } from "../../services/odgm/src/OdgmApp.ts"
import { ObjectStoreService } from "../../services/odgm/src/storage/ObjectStore.ts"
import { freePort, startBenchServer } from "../lib/servers"

const rounds = Number(process.argv[2] ?? 6)
const N = Number(process.argv[3] ?? 2000)
const here = new URL(".", import.meta.url).pathname
const tmp = benchDir("oprc-bench-idem-")
const fnPort = await freePort()
const fn = await startBenchServer(`${here}noop-function.ts`, fnPort)
const config = Schema.decodeUnknownSync(OdgmConfig)({
  storage: { kind: "sqlite", sqlite: { path: join(tmp, "odgm.sqlite") } },
  telemetry: { log: { level: "error" } },
})
const rt = ManagedRuntime.make(OdgmServices(config).pipe(Layer.provide(Health.layer)))
try {
  await rt.runPromise(Effect.gen(function*() {
    yield* (yield* CollectionRegistry).apply(
      yield* decodeCollection({
        name: "bench.Obj",
        partitionCount: 4,
        functions: { touch: { url: `http://127.0.0.1:${fnPort}` } },
      }),
    )
  }))
  let serial = 0
  const round = (keyed: boolean) =>
    rt.runPromise(Effect.gen(function*() {
      const invoker = yield* Invoker
      const before = process.cpuUsage()
      const t0 = performance.now()
      yield* Effect.forEach(Array.from({ length: N }, () => serial++), (i) =>
        invoker.invoke({
          cls: "bench.Obj",
          partition: undefined,
          objectId: `o${i % 1000}`,
          fn: "touch",
          payload: new Uint8Array(),
          headers: {},
          timeoutMs: undefined,
          invocationId: keyed ? `k-${i}` : undefined,
        }, external), { concurrency: 16, discard: true })
      const used = process.cpuUsage(before)
      return { cpuUs: (used.user + used.system) / N, perSec: N / ((performance.now() - t0) / 1000) }
    }))
  await round(false) // warm-up (JIT, connections, pages)
  await round(true)
  const plain: number[] = []
  const keyed: number[] = []
  for (let r = 0; r < rounds; r++) {
    for (const k of r % 2 === 0 ? [false, true] : [true, false]) {
      const m = await round(k)
      ;(k ? keyed : plain).push(m.cpuUs)
      console.log(
        `${k ? "with id   " : "without id"}: ${m.cpuUs.toFixed(0)} µs CPU/invocation, ${
          m.perSec.toFixed(0)
        } invocations/s`,
      )
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const p = median(plain), k = median(keyed)
  console.log(
    `median: without id ${p.toFixed(0)} µs, with id ${k.toFixed(0)} µs CPU per invocation: bookkeeping costs ${
      ((k / p - 1) * 100).toFixed(1)
    } % (${rounds} rounds of ${N} each)`,
  )

  // The bookkeeping alone, without the function call: what an invocation with an id does in
  // addition (fingerprint, the record lookup, building the record, storing it in the commit),
  // against the same read + commit without it. Same store, same concurrency, alternating.
  const store = await rt.runPromise(Effect.gen(function*() {
    return yield* ObjectStoreService
  }))
  const storeRound = (keyed: boolean) =>
    rt.runPromise(Effect.gen(function*() {
      const before = process.cpuUsage()
      yield* Effect.forEach(Array.from({ length: N }, () => serial++), (i) =>
        Effect.gen(function*() {
          const ref = { cls: "bench.Raw", partition: 0, id: `r${i % 1000}` }
          const payload = new Uint8Array()
          const current = keyed
            ? Option.getOrUndefined((yield* store.getInvoked(ref, `s-${i}`)).object)
            : Option.getOrUndefined(yield* store.get(ref))
          const fp = keyed ? fingerprint({ cls: ref.cls, objectId: ref.id, fn: "touch", payload }) : undefined
          const next = { entries: { n: { _tag: "Json" as const, value: i } }, triggers: [] }
          const invocation = keyed
            ? {
              id: `s-${i}`,
              final: true,
              ttlMs: 3_600_000,
              result: doneRecord(fp, "OK", "ok", {
                output: payload,
                headers: {},
                objectVersion: (current?.version ?? 0n) + 1n,
              }, Date.now() + 3_600_000),
            }
            : undefined
          yield* store.commit({
            ref,
            next,
            expectedVersion: current?.version ?? 0n,
            events: [],
            ...(invocation ? { invocation } : {}),
          }).pipe(Effect.ignore)
        }), { concurrency: 16, discard: true })
      const used = process.cpuUsage(before)
      return (used.user + used.system) / N
    }))
  const sp: number[] = []
  const sk: number[] = []
  await storeRound(false)
  await storeRound(true)
  for (let r = 0; r < rounds; r++) {
    for (const k of r % 2 === 0 ? [false, true] : [true, false]) (k ? sk : sp).push(await storeRound(k))
  }
  const extra = median(sk) - median(sp)
  console.log(
    `storage part: read+commit ${median(sp).toFixed(0)} µs, with the record ${
      median(sk).toFixed(0)
    } µs CPU: the bookkeeping adds ${extra.toFixed(0)} µs, ${((extra / p) * 100).toFixed(1)} % of a sync invocation's ${
      p.toFixed(0)
    } µs`,
  )
} finally {
  await rt.dispose()
  await fn.stop()
}
