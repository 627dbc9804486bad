import { describe, expect, test } from "bun:test"
import { Deferred, Effect, Option, Schema } from "effect"
import { TestClock } from "effect/testing"
import { prometheusText } from "@oprc/observability"
import { makeController, Outcome } from "../src/index.ts"

class Boom extends Schema.TaggedError<Boom>()("Boom", {}) {}

/** Runs a scoped test program on the TestClock: nothing here waits on real time. */
const run = <A, E>(program: Effect.Effect<A, E, import("effect").Scope.Scope>) =>
  Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(TestClock.layer())))

/** Lets forked fibers run until they block (on the queue or the test clock). */
const settle = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

describe("makeController", () => {
  test("a key is never reconciled twice at once, and enqueues during a pass collapse into one more pass", () =>
    run(Effect.gen(function*() {
      let passes = 0
      let concurrent = 0
      let maxConcurrent = 0
      const gate = yield* Deferred.make<void>()
      const c = yield* makeController({ name: "t", workers: 4, resyncMs: 0 }, () =>
        Effect.gen(function*() {
          passes++
          concurrent++
          maxConcurrent = Math.max(maxConcurrent, concurrent)
          if (passes === 1) yield* Deferred.await(gate)
          concurrent--
          return Outcome.done
        }), Effect.succeed([]))
      yield* c.enqueue("a")
      yield* settle
      expect(passes).toBe(1)
      for (let i = 0; i < 5; i++) yield* c.enqueue("a")
      yield* settle
      expect(passes).toBe(1)
      yield* Deferred.succeed(gate, undefined)
      yield* settle
      expect(passes).toBe(2)
      expect(maxConcurrent).toBe(1)
    })))

  test("different keys run in parallel up to the worker count", () =>
    run(Effect.gen(function*() {
      let concurrent = 0
      let maxConcurrent = 0
      const gate = yield* Deferred.make<void>()
      const c = yield* makeController({ name: "t", workers: 2, resyncMs: 0 }, () =>
        Effect.gen(function*() {
          concurrent++
          maxConcurrent = Math.max(maxConcurrent, concurrent)
          yield* Deferred.await(gate)
          concurrent--
          return Outcome.done
        }), Effect.succeed([]))
      for (const k of ["a", "b", "c"]) yield* c.enqueue(k)
      yield* settle
      expect(maxConcurrent).toBe(2)
      yield* Deferred.succeed(gate, undefined)
    })))

  test("failures retry with jittered exponential backoff, capped, and a success resets it", () =>
    run(Effect.gen(function*() {
      const at: Array<number> = []
      let failUntil = 6
      const c = yield* makeController(
        { name: "t", workers: 1, resyncMs: 0, backoff: { baseMs: 100, maxMs: 1000 } },
        () =>
          Effect.gen(function*() {
            at.push(yield* Effect.clockWith((clock) => clock.currentTimeMillis))
            return at.length < failUntil ? yield* new Boom() : Outcome.done
          }),
        Effect.succeed([]),
      )
      yield* c.enqueue("k")
      for (let t = 0; t < 400; t++) {
        yield* TestClock.adjust("10 millis")
        yield* settle
      }
      expect(at.length).toBe(failUntil)
      const gaps = at.slice(1).map((t, i) => t - at[i]!)
      // 100, 200, 400, 800 ms each +-20% (+ the 10 ms tick), then capped at 1000 ms.
      const expected = [100, 200, 400, 800, 1000]
      gaps.forEach((g, i) => {
        expect(g).toBeGreaterThanOrEqual(expected[i]! * 0.8 - 1)
        expect(g).toBeLessThanOrEqual(Math.min(expected[i]! * 1.2, 1200) + 11)
      })
      expect(c.failures("k")).toBe(0)
      // After the success the next failure starts from the base delay again.
      failUntil = at.length + 2
      const before = at.length
      yield* c.enqueue("k")
      for (let t = 0; t < 20; t++) {
        yield* TestClock.adjust("10 millis")
        yield* settle
      }
      expect(at.length).toBe(before + 2)
      expect(at[before + 1]! - at[before]!).toBeLessThanOrEqual(131)
    })))

  test("a pass that dies is retried like a failure, not lost", () =>
    run(Effect.gen(function*() {
      let passes = 0
      const c = yield* makeController(
        { name: "t", workers: 1, resyncMs: 0, backoff: { baseMs: 50, maxMs: 50 } },
        () => Effect.suspend(() => (++passes === 1 ? Effect.die(new Error("bug")) : Effect.succeed(Outcome.done))),
        Effect.succeed([]),
      )
      yield* c.enqueue("k")
      yield* settle
      expect(passes).toBe(1)
      yield* TestClock.adjust("100 millis")
      yield* settle
      expect(passes).toBe(2)
    })))

  test("RequeueAfter looks again after exactly that delay; Done waits for the resync", () =>
    run(Effect.gen(function*() {
      const at: Record<string, Array<number>> = { moving: [], still: [] }
      const c = yield* makeController({ name: "t", workers: 2, resyncMs: 5000 }, (key) =>
        Effect.gen(function*() {
          at[key]!.push(yield* Effect.clockWith((clock) => clock.currentTimeMillis))
          return key === "moving" && at[key]!.length < 3 ? Outcome.requeueAfter(300) : Outcome.done
        }), Effect.succeed(["moving", "still"]))
      yield* c.enqueue("moving")
      yield* c.enqueue("still")
      yield* settle
      yield* TestClock.adjust("300 millis")
      yield* settle
      yield* TestClock.adjust("300 millis")
      yield* settle
      expect(at.moving).toEqual([0, 300, 600])
      expect(at.still).toEqual([0])
      yield* TestClock.adjust("4400 millis")
      yield* settle
      expect(at.still).toEqual([0, 5000])
      expect(at.moving).toEqual([0, 300, 600, 5000])
    })))

  test("awaitPass returns once a pass that started after the call has finished", () =>
    run(Effect.gen(function*() {
      let passes = 0
      const c = yield* makeController(
        { name: "t", workers: 1, resyncMs: 0 },
        () => Effect.as(Effect.sleep("50 millis"), Outcome.done).pipe(Effect.tap(() => Effect.sync(() => passes++))),
        Effect.succeed([]),
      )
      const waiter = yield* Effect.forkChild(c.awaitPass("k", 10_000))
      yield* settle
      expect(passes).toBe(0)
      yield* TestClock.adjust("50 millis")
      yield* settle
      expect(waiter.pollUnsafe()?._tag).toBe("Success")
      expect(passes).toBe(1)
    })))

  test("inTrace: the pass that applies a caller's change joins its trace even when a watch queued it first", () =>
    run(Effect.gen(function*() {
      const parents: Array<string | undefined> = []
      const c = yield* makeController(
        { name: "t", workers: 1, resyncMs: 0 },
        () =>
          Effect.gen(function*() {
            const span = yield* Effect.currentSpan
            const parent = Option.getOrUndefined(span.parent)
            parents.push(parent?._tag === "Span" ? parent.name : undefined)
            yield* Effect.sleep("10 millis")
            return Outcome.done
          }),
        Effect.succeed([]),
      )
      // What a storage watch does on the write: enqueue the key, with no span, before awaitPass.
      const change = Effect.gen(function*() {
        yield* c.enqueue("k")
        yield* settle
        yield* c.awaitPass("k", 10_000)
      }).pipe(Effect.withSpan("request"))
      for (const traced of [true, false]) {
        const caller = yield* Effect.forkChild(
          (traced ? c.inTrace("k", change) : change).pipe(Effect.withSpan("caller")),
        )
        for (let i = 0; i < 3; i++) {
          yield* settle
          yield* TestClock.adjust("10 millis")
        }
        yield* settle
        expect(caller.pollUnsafe()?._tag).toBe("Success")
      }
      // inTrace: the watch's pass and the awaited one both hang under the caller's span. Without
      // it, the watch's pass is a root of its own (undefined) and only the re-run joins.
      expect(parents).toEqual(["caller", "request", undefined, "request"])
      // Once the change is done, passes are roots again.
      yield* c.enqueue("k")
      yield* settle
      yield* TestClock.adjust("10 millis")
      yield* settle
      expect(parents.at(-1)).toBeUndefined()
    })))

  test("metrics: passes by outcome, failures by error tag, durations, per controller", () =>
    run(Effect.gen(function*() {
      let n = 0
      const c = yield* makeController(
        { name: "metrics-test", workers: 1, resyncMs: 0, backoff: { baseMs: 10, maxMs: 10 } },
        () =>
          Effect.suspend(() => (++n <= 2
            ? Effect.fail(new Boom())
            : n === 3
            ? Effect.succeed(Outcome.retry("later"))
            : Effect.succeed(Outcome.done))
          ),
        Effect.succeed([]),
      )
      yield* c.enqueue("k")
      for (let i = 0; i < 10; i++) {
        yield* TestClock.adjust("10 millis")
        yield* settle
      }
      expect(n).toBe(4)
      const text = yield* prometheusText
      expect(text).toContain("oprc_reconcile_failures_total{controller=\"metrics-test\",error=\"Boom\"} 2")
      expect(text).toContain("oprc_reconcile_runs_total{controller=\"metrics-test\",outcome=\"error\"} 2")
      expect(text).toContain("oprc_reconcile_runs_total{controller=\"metrics-test\",outcome=\"retry\"} 1")
      expect(text).toContain("oprc_reconcile_runs_total{controller=\"metrics-test\",outcome=\"done\"} 1")
      expect(text).toContain("oprc_reconcile_duration_seconds_count{controller=\"metrics-test\"} 4")
    })))
})
