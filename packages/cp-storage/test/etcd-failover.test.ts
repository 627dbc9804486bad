import { expect, test } from "bun:test"
import { Duration, Effect, Fiber, Metric, Option, Schedule, Schema } from "effect"
import { Etcd3 } from "etcd3"
import { startEtcdCluster } from "@oprc/test-harness"
import { ControlPlaneStore, etcdMetrics } from "../src/index.ts"

const Pkg = Schema.Struct({ name: Schema.String, n: Schema.Number })
const N = 500
const name = (i: number) => `pkg-${String(i).padStart(3, "0")}`

test(
  "killing the etcd leader during 500 concurrent creates: acknowledged creates survive, none applied twice",
  async () => {
    const cluster = await startEtcdCluster(3)
    const raw = new Etcd3({ hosts: cluster.endpoints })
    try {
      const report = await Effect.runPromise(
        Effect.gen(function*() {
          const store = yield* ControlPlaneStore
          const packages = store.collection("packages", Pkg)
          const leader = yield* Effect.promise(() => cluster.leaderIndex())
          let acked = 0
          const started = Date.now()
          const creates = yield* Effect.forEach(
            Array.from({ length: N }, (_, i) => i),
            (i) =>
              packages.create(name(i), { name: name(i), n: i }).pipe(
                Effect.tap(() => Effect.sync(() => acked++)),
                Effect.timed,
                Effect.result,
              ),
            { concurrency: "unbounded" },
          ).pipe(Effect.forkChild)
          // Kill the leader once the first creates are acknowledged and the rest are in flight.
          while (acked < 20) {
            yield* Effect.sleep(1)
          }
          const ackedAtKill = acked
          yield* Effect.promise(() => cluster.kill(leader))
          const killedAfterMs = Date.now() - started
          const results = yield* Fiber.join(creates)
          const newLeader = yield* Effect.promise(() => cluster.leaderIndex(20_000))

          const ok = results.flatMap((
            r,
            i,
          ) => (r._tag === "Success" ? [{ i, ms: Duration.toMillis(r.success[0]), doc: r.success[1] }] : []))
          const failed = results.flatMap((r, i) => (r._tag === "Failure" ? [{ i, error: r.failure }] : []))
          // Every acknowledged create is readable (from the cache) with its own value, never overwritten.
          for (const { i, doc } of ok) {
            const got = Option.getOrThrow(yield* packages.get(name(i)))
            expect(got.value).toEqual({ name: name(i), n: i })
            expect(got.revision).toBe(doc.revision)
            expect(got.createRevision).toBe(got.revision)
          }
          // No create may report that its own key already existed: that would be a retry that
          // applied twice or a lost acknowledgement.
          for (const { error } of failed) expect(error._tag).toBe("StorageError")

          // etcd itself: each key written exactly once (version 1), with the right value.
          const kvs = yield* Effect.promise(() => raw.getAll().prefix("/failover/packages/").exec())
          expect(kvs.kvs.length).toBeGreaterThanOrEqual(ok.length)
          for (const kv of kvs.kvs) {
            expect(kv.version).toBe("1")
            const i = Number(kv.key.toString().split("pkg-")[1])
            expect(JSON.parse(kv.value.toString().split("\n")[1] ?? "")).toEqual({ name: name(i), n: i })
          }

          // The store keeps serving after the re-election: writes, reads after writes, readiness.
          const later = yield* Effect.forEach(
            Array.from({ length: 20 }, (_, i) => N + i),
            (i) => packages.create(name(i), { name: name(i), n: i }),
            { concurrency: 5 },
          )
          for (const doc of later) expect(Option.isSome(yield* packages.get(doc.key))).toBe(true)
          const updated = yield* packages.update(name(N), { name: name(N), n: -1 }, later[0]?.revision)
          expect(Option.getOrThrow(yield* packages.get(name(N))).revision).toBe(updated.revision)
          yield* store.ready.pipe(
            Effect.retry({ schedule: Schedule.spaced("100 millis").pipe(Schedule.upTo({ times: 100 })) }),
          )
          const listed = yield* packages.list()
          expect(listed.items.length).toBe(kvs.kvs.length + later.length)

          return {
            retries: (yield* Metric.value(etcdMetrics.retries)).count,
            recoveredWrites: (yield* Metric.value(etcdMetrics.recoveredWrites)).count,
            ackedAtKill,
            killedAfterMs,
            acknowledged: ok.length,
            failed: failed.length,
            failures: [...new Set(failed.map((f) => f.error.message))].slice(0, 3),
            slowest: Math.round(Math.max(...ok.map((o) => o.ms))),
            throughElection: ok.filter((o) => o.ms > 300).length,
            leader,
            newLeader,
            totalMs: Date.now() - started,
          }
        }).pipe(
          Effect.scoped,
          Effect.provide(ControlPlaneStore.layerEtcd({
            endpoints: cluster.endpoints,
            prefix: "/failover",
            // Shorter than a loaded 3-member cluster's commit latency here: many calls time out
            // after etcd applied them, so the retries must recognise their own writes.
            requestTimeoutMs: 400,
          })),
        ),
      )
      console.log("etcd failover:", JSON.stringify(report))
      expect(report.newLeader).not.toBe(report.leader)
      // Calls were in flight on the killed leader: the store had to retry them.
      expect(report.retries).toBeGreaterThan(0)
      // Most creates must ride out the election (retried) rather than fail.
      expect(report.acknowledged).toBeGreaterThan(N * 0.9)
    } finally {
      raw.close()
      await cluster.stop()
    }
  },
  60_000,
)
