import { afterAll, beforeAll, expect, test } from "bun:test"
import { join } from "node:path"
import { Effect, Fiber, Layer, ManagedRuntime, Option, Schema } from "effect"
import fc from "fast-check"
import { decodeCollection } from "@oprc/models"
import { Health } from "@oprc/observability"
import { makeTempDir } from "@oprc/test-harness"
import { AsyncInvocations } from "../src/invocation/AsyncInvocations.ts"
import { CollectionRegistry } from "../src/collections/CollectionRegistry.ts"
import { OdgmConfig } from "../src/config.ts"
import { external, type InvocationRequest } from "../src/domain/types.ts"
import { Invoker } from "../src/invocation/Invoker.ts"
import { OdgmServices } from "../src/OdgmApp.ts"
import { ObjectStoreService } from "../src/storage/ObjectStore.ts"
import { type FunctionProcess, probeCollection, probeEntry, startFunction } from "./support/odgm.ts"

// Property (issue 9): any interleaving of submit (sync or async), crash, restart and retry of ONE
// invocation id applies it at most once, and once it was acknowledged, exactly once. A crash is
// the whole ODGM (store, dispatcher, the call in flight) torn down at an arbitrary moment,
// including between the function's answer and the commit, and between the commit and the reply;
// the SQLite file is reopened by the next "process".

let fn: FunctionProcess
const dir = makeTempDir("odgm-exactly-once-property")
const cls = "prop.Probe"

beforeAll(async () => {
  fn = await startFunction(probeEntry)
}, 30_000)
afterAll(() => fn?.stop())

const odgm = (path: string) => {
  const config = Schema.decodeUnknownSync(OdgmConfig)({
    storage: { kind: "sqlite", sqlite: { path } },
    invocation: { timeoutMs: 2000 },
    triggers: { pollIntervalMs: 10, backoffBaseMs: 10, backoffMaxMs: 50, maxAttempts: 1000, leaseMarginMs: 200 },
    telemetry: { log: { level: "error" } },
  })
  return ManagedRuntime.make(OdgmServices(config).pipe(Layer.provide(Health.layer)))
}

type Step = { readonly kind: "sync" | "async"; readonly cutAfterMs: number }
const step: fc.Arbitrary<Step> = fc.record({
  kind: fc.constantFrom("sync" as const, "async" as const),
  cutAfterMs: fc.integer({ min: 0, max: 40 }),
})

let run = 0
test("one invocation id under submit/crash/restart/retry: at most once, exactly once when acknowledged", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 5 }), async (steps) => {
      const path = join(dir, `p${run++}.sqlite`)
      const id = "the-one"
      const req: InvocationRequest = {
        cls,
        partition: undefined,
        objectId: "obj",
        fn: "increment",
        payload: new Uint8Array(),
        headers: {},
        timeoutMs: undefined,
        invocationId: id,
      }
      const count = (rt: ReturnType<typeof odgm>) =>
        rt.runPromise(Effect.gen(function*() {
          const store = yield* ObjectStoreService
          const o = yield* store.get({ cls, partition: 0, id: "obj" })
          const v = Option.isSome(o) ? o.value.entries.count : undefined
          return v?._tag === "Json" ? (v.value as number) : 0
        }))
      let acknowledged = false
      let submittedAsync = false
      let rt = odgm(path)
      await rt.runPromise(Effect.gen(function*() {
        const registry = yield* CollectionRegistry
        yield* registry.apply(yield* decodeCollection(probeCollection(cls, fn.url, { partitionCount: 1 })))
      }))
      for (const s of steps) {
        const call = Effect.gen(function*() {
          if (s.kind === "sync") yield* (yield* Invoker).invoke(req, external)
          else yield* (yield* AsyncInvocations).submit(req, external)
        })
        const fiber = rt.runFork(call)
        await Bun.sleep(s.cutAfterMs)
        // Crash: whatever was in flight (this call, a dispatcher delivery) is cut where it stands.
        const exit = fiber.pollUnsafe()
        if (exit?._tag === "Success") {
          acknowledged = true
          if (s.kind === "async") submittedAsync = true
        }
        await rt.runPromise(Fiber.interrupt(fiber)).catch(() => undefined)
        await rt.dispose()
        rt = odgm(path)
        const n = await count(rt)
        expect(n).toBeLessThanOrEqual(1)
        if (acknowledged && !submittedAsync) expect(n).toBe(1)
      }
      // The client retries until acknowledged (sync), then the async job (if any) finishes.
      await rt.runPromise(
        Effect.gen(function*() {
          return yield* (yield* Invoker).invoke(req, external)
        }).pipe(Effect.retry({ times: 20 })),
      )
      if (submittedAsync) {
        const r = await rt.runPromise(Effect.gen(function*() {
          return yield* (yield* AsyncInvocations).get(id, 5000)
        }))
        expect(r.state).toBe("DONE")
      }
      expect(await count(rt)).toBe(1)
      await Bun.sleep(50) // a redelivered job would land now
      expect(await count(rt)).toBe(1)
      await rt.dispose()
    }),
    { numRuns: 25 },
  )
}, 60_000)
