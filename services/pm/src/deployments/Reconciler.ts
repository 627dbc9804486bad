import { Cause, Context, Duration, Effect, Layer, Stream } from "effect"
import { makeController, Outcome } from "@oprc/reconcile"
import type { DeploymentPhase } from "@oprc/models"
import { ClusterRegistry } from "../clusters/ClusterRegistry"
import type { OrchestrationConfig } from "../config"
import { recordPass, recordPhases } from "../Metrics"
import { PmStore } from "../storage/PmStore"
import { makeReconcile, type PassResult } from "./reconcile"

/**
 * The PM's reconcile loop: keeps every cluster's CRM at each deployment's desired state. Work
 * comes from the storage watch (new, changed and — after a restart — all existing deployments),
 * a periodic resync, CRMs that come back, and the CRMs' own status streams. A failed pass is
 * retried with backoff, so an accepted deployment reaches its clusters without any user action.
 */
export class Reconciler extends Context.Service<Reconciler, {
  readonly enqueue: (key: string) => Effect.Effect<void>
  /** Runs a pass over `key` in the caller's trace and waits for it, at most `waitMs`. */
  readonly dispatch: (key: string, waitMs: number) => Effect.Effect<void>
  /** Runs a caller's change to `key` so that any pass over it meanwhile is in the caller's trace. */
  readonly inTrace: <A, E, R>(key: string, change: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}>()("pm/Reconciler") {
  static readonly layer = (options: OrchestrationConfig) =>
    Layer.effect(Reconciler)(
      Effect.gen(function*() {
        const store = yield* PmStore
        const registry = yield* ClusterRegistry
        const pass = makeReconcile(store, registry)
        const phases = new Map<string, DeploymentPhase>()

        const publishPhases = Effect.suspend(() => {
          const counts = new Map<DeploymentPhase, number>()
          for (const p of phases.values()) counts.set(p, (counts.get(p) ?? 0) + 1)
          return recordPhases(counts)
        })

        const outcomeOf = (key: string, result: PassResult) =>
          Effect.gen(function*() {
            if (result.gone) phases.delete(key)
            else if (result.phase !== undefined) phases.set(key, result.phase)
            yield* publishPhases
            yield* recordPass(result.outcome === "done" || result.outcome === "settling" ? "ok" : "retry")
            if (result.outcome === "done") return Outcome.done
            if (result.outcome === "settling") return Outcome.requeueAfter(Math.min(1000, options.resyncMs))
            return Outcome.retry("a cluster or the storage did not answer")
          })

        const allKeys = Effect.gen(function*() {
          const keys: Array<string> = []
          let cursor: string | undefined
          do {
            const page = yield* store.deployments.list({ limit: 500, ...(cursor === undefined ? {} : { cursor }) })
            for (const d of page.items) keys.push(d.key)
            cursor = page.nextCursor
          } while (cursor !== undefined)
          return keys
        })

        // Retries: 200 ms, 400 ms, ... (jittered) capped by the resync period, which would come anyway.
        const queue = yield* makeController(
          {
            name: "pm-deployments",
            workers: options.workers,
            resyncMs: options.resyncMs,
            backoff: { baseMs: 200, maxMs: options.resyncMs },
            span: { name: "Reconciler.reconcile", keyAttribute: "oprc.deployment" },
          },
          (key) =>
            pass(key).pipe(
              Effect.tapCause(() => recordPass("error")),
              Effect.flatMap((result) => outcomeOf(key, result)),
            ),
          allKeys,
        )
        const enqueueAll = Effect.flatMap(allKeys, (keys) => Effect.forEach(keys, queue.enqueue, { discard: true }))

        /** Runs `effect` forever: when it ends or fails, log and start again after `pauseMs`. */
        const forever = <E>(what: string, effect: Effect.Effect<void, E>, pauseMs: number) =>
          effect.pipe(
            Effect.catchCause((cause) => Effect.logWarning(`${what}: ${Cause.pretty(cause)}`)),
            Effect.andThen(Effect.sleep(Duration.millis(pauseMs))),
            Effect.forever,
            Effect.forkScoped,
          )

        // After a restart this lists every stored deployment first: nothing accepted is forgotten.
        yield* forever(
          "deployment watch",
          store.deployments.watch({ includeExisting: true }).pipe(
            Stream.runForEach((c) => queue.enqueue(c._tag === "Put" ? c.item.key : c.key)),
          ),
          1000,
        )
        yield* forever("cluster recovery", Stream.runForEach(registry.recovered, () => enqueueAll), 1000)
        for (const name of registry.names) {
          const client = registry.client(name)
          if (client === undefined) continue
          const suffix = `-${name}`
          yield* forever(
            `status stream of ${name}`,
            Stream.runForEach(client.watch, (s) =>
              s.unitId.endsWith(suffix) ? queue.enqueue(s.unitId.slice(0, -suffix.length)) : Effect.void),
            options.healthIntervalMs,
          )
        }

        return {
          enqueue: queue.enqueue,
          dispatch: queue.awaitPass,
          inTrace: queue.inTrace,
        }
      }),
    )
}
