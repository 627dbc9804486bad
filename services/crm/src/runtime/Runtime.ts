import { Clock, Context, Effect, Layer, Option, PubSub, Stream } from "effect"
import { type DeploymentUnit, DeploymentUnit as UnitSchema, NotFound, Unavailable, ValidationError } from "@oprc/models"
import { ControlPlaneStore, type StorageError } from "@oprc/cp-storage"
import { Health, tracedFn } from "@oprc/observability"
import { makeController, Outcome } from "@oprc/reconcile"
import type { CrmConfig } from "../config"
import { Driver, type NfrReport, NfrReports } from "../driver/Driver"
import { recordReplicas, recordUnits } from "../Metrics"
import { CrmStore } from "../storage/CrmStore"
import { blockedStatus, fingerprint, statusFrom, type UnitStatus } from "./status"

export interface UnitView {
  readonly unit: DeploymentUnit
  readonly status: UnitStatus
}

const unitIdPattern = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/

const phases = ["Pending", "Deploying", "Running", "Degraded", "Failed", "Deleting"]

const unavailable = (e: StorageError | { readonly _tag: "VersionConflict" }) =>
  new Unavailable({
    reason: e._tag === "StorageError"
      ? `CRM storage unavailable: ${e.reason}`
      : "a concurrent change to this unit: retry",
  })

/**
 * The CRM's runtime: desired units are stored first (acknowledged = durable), then a reconcile
 * loop (@oprc/reconcile) drives the Driver towards them and publishes each unit's status. After a
 * restart the loop lists every stored unit (and every deleted one not cleaned up yet) again.
 */
export class Runtime extends Context.Service<Runtime, {
  readonly apply: (unit: DeploymentUnit) => Effect.Effect<UnitStatus, ValidationError | Unavailable>
  /** false when the unit did not exist. Waits (at most 2 s) until its processes are stopped. */
  readonly remove: (unitId: string) => Effect.Effect<boolean, Unavailable>
  readonly get: (unitId: string) => Effect.Effect<UnitView, NotFound>
  readonly list: (deploymentKey: string) => Effect.Effect<ReadonlyArray<UnitView>>
  /** Current status of every (or one) unit first, then every change. */
  readonly watch: (unitId: string) => Stream.Stream<UnitStatus>
  readonly summary: Effect.Effect<{ readonly units: number; readonly available: number; readonly replicas: number }>
}>()("crm/Runtime") {
  static readonly layer = (config: CrmConfig) =>
    Layer.effectContext(
      Effect.gen(function*() {
        const store = yield* CrmStore
        const cp = yield* ControlPlaneStore
        const driver = yield* Driver
        const health = yield* Health
        const deleted = cp.collection("crm-deleted", UnitSchema)
        const units = new Map<string, DeploymentUnit>()
        const statuses = new Map<string, UnitStatus>()
        const nfr = new Map<string, NfrReport>()
        const changes = yield* PubSub.unbounded<UnitStatus>()

        const publish = (status: UnitStatus) =>
          Effect.gen(function*() {
            const before = statuses.get(status.unitId)
            statuses.set(status.unitId, status)
            if (fingerprint(before) === fingerprint(status)) return
            yield* PubSub.publish(changes, status)
            yield* Effect.forEach(
              status.functions,
              (f) => recordReplicas(status.unitId, f.function, f.desiredReplicas, f.readyReplicas),
              { discard: true },
            )
            const counts = new Map<string, number>()
            for (const s of statuses.values()) counts.set(s.phase, (counts.get(s.phase) ?? 0) + 1)
            yield* recordUnits(counts, phases)
          })

        const pass = (key: string) =>
          Effect.gen(function*() {
            const doc = yield* store.units.get(key)
            if (Option.isNone(doc)) {
              const last = yield* deleted.get(key)
              yield* driver.remove(key, Option.isSome(last) ? last.value.value : undefined)
              if (Option.isSome(last)) yield* deleted.delete(key)
              // A gone unit runs nothing: its gauges say 0 rather than their last value.
              yield* Effect.forEach(statuses.get(key)?.functions ?? [], (f) => recordReplicas(key, f.function, 0, 0), {
                discard: true,
              })
              units.delete(key)
              statuses.delete(key)
              nfr.delete(key)
              return Outcome.done
            }
            const unit = doc.value.value
            units.set(key, unit)
            const now = yield* Clock.currentTimeMillis
            const observed = yield* Effect.result(driver.reconcile(unit))
            if (observed._tag === "Failure") {
              yield* publish(blockedStatus(unit, "DriverError", observed.failure.reason, statuses.get(key), now))
              return Outcome.retry(observed.failure.reason)
            }
            yield* publish(statusFrom(unit, observed.success, nfr.get(key), statuses.get(key), now))
            const after = observed.success.requeueAfterMs
            return after === undefined ? Outcome.done : Outcome.requeueAfter(after)
          })

        const keys = Effect.gen(function*() {
          const stored = yield* store.units.list()
          const gone = yield* deleted.list()
          const running = yield* driver.replicas()
          return new Set([
            ...stored.items.map((i) => i.key),
            ...gone.items.map((i) => i.key),
            ...running.map((r) => r.unitId),
          ])
        })

        const controller = yield* makeController(
          {
            name: "crm-units",
            workers: config.reconcile.workers,
            resyncMs: config.reconcile.resyncMs,
            backoff: { baseMs: 200, maxMs: 10_000 },
          },
          pass,
          keys,
        )
        // Everything stored (and adopted) is reconciled once at start: nothing acknowledged is lost.
        yield* Effect.flatMap(Effect.orDie(keys), (all) => Effect.forEach(all, controller.enqueue, { discard: true }))
        yield* Stream.runForEach(driver.changes, controller.enqueue).pipe(Effect.forkScoped)
        yield* health.register("odgm", driver.ready)

        const view = (unitId: string) => {
          const unit = units.get(unitId)
          const status = statuses.get(unitId)
          return unit === undefined || status === undefined ? undefined : { unit, status }
        }
        const pending = (unit: DeploymentUnit, now: number): UnitStatus => ({
          unitId: unit.id,
          phase: "Pending",
          conditions: [{
            type: "Progressing",
            status: "True",
            reason: "Accepted",
            message: `generation ${unit.generation} accepted`,
            observedGeneration: unit.generation,
            lastTransitionTime: now,
          }],
          observedGeneration: unit.generation,
          message: `generation ${unit.generation} accepted`,
          functions: [],
          odgmUrl: "",
          updatedAt: now,
          recommendation: undefined,
        })

        // Acknowledged units are visible (Pending) from the first request after a restart, before their first pass.
        const startedAt = yield* Clock.currentTimeMillis
        for (const { value: unit } of (yield* Effect.orDie(store.units.list())).items) {
          if (!units.has(unit.id)) units.set(unit.id, unit)
          if (!statuses.has(unit.id)) statuses.set(unit.id, pending(unit, startedAt))
        }

        /** Deletes a unit: the tombstone first, so a CRM that crashes right after still knows what to clean up. */
        const removed = (unitId: string, unit: DeploymentUnit) =>
          Effect.gen(function*() {
            yield* deleted.upsert(unitId, unit).pipe(Effect.mapError(unavailable))
            yield* store.units.delete(unitId).pipe(Effect.mapError(unavailable))
            const current = statuses.get(unitId)
            if (current !== undefined) {
              yield* publish({
                ...current,
                phase: "Deleting",
                message: "deleting: routes removed, replicas draining",
                updatedAt: yield* Clock.currentTimeMillis,
              })
            }
            // Bounded below the PM's call deadline (3 s): a slow SIGTERM finishes in the background.
            yield* controller.awaitPass(unitId, 2000)
            return true
          })

        const runtime = Runtime.of({
          apply: tracedFn("Runtime.apply")(function*(unit: DeploymentUnit) {
            // The id names files and records (log paths, storage keys): DNS-style only, never a path.
            if (!unitIdPattern.test(unit.id)) {
              return yield* ValidationError.single(
                "unit.id",
                `${
                  JSON.stringify(unit.id.slice(0, 80))
                } is not a unit id (lowercase letters, digits, '-' and '.', at most 253 characters)`,
              )
            }
            if (unit.cluster !== config.cluster) {
              return yield* ValidationError.single(
                "unit.cluster",
                `this CRM manages cluster "${config.cluster}", not "${unit.cluster}"`,
              )
            }
            const existing = yield* store.units.get(unit.id).pipe(Effect.mapError(unavailable))
            // Same or older generation: an idempotent re-send (or a stale one); nothing changes.
            if (Option.isSome(existing) && existing.value.value.generation >= unit.generation) {
              return statuses.get(unit.id) ?? pending(existing.value.value, yield* Clock.currentTimeMillis)
            }
            // The first pass runs in the caller's trace (PM -> CRM -> ODGM), whichever source
            // (resync, a driver change, this call) queues it, and usually finishes in milliseconds
            // (it starts processes, it does not wait for them); never wait long.
            return yield* controller.inTrace(
              unit.id,
              Effect.gen(function*() {
                yield* store.units.upsert(unit.id, unit).pipe(Effect.mapError(unavailable))
                yield* deleted.delete(unit.id).pipe(Effect.ignore)
                units.set(unit.id, unit)
                const now = yield* Clock.currentTimeMillis
                const status = pending(unit, now)
                if (statuses.get(unit.id)?.observedGeneration !== unit.generation) yield* publish(status)
                yield* controller.awaitPass(unit.id, 1000)
                return statuses.get(unit.id) ?? status
              }),
            )
          }),
          remove: tracedFn("Runtime.remove")(function*(unitId: string) {
            const existing = yield* store.units.get(unitId).pipe(Effect.mapError(unavailable))
            if (Option.isNone(existing)) return false
            return yield* controller.inTrace(unitId, removed(unitId, existing.value.value))
          }),
          get: (unitId) =>
            Effect.suspend(() => {
              const v = view(unitId)
              return v === undefined
                ? Effect.fail(new NotFound({ resource: "deployment unit", name: unitId }))
                : Effect.succeed(v)
            }),
          list: (deploymentKey) =>
            Effect.sync(() =>
              [...units.keys()].flatMap((id) => {
                const v = view(id)
                return v === undefined || (deploymentKey !== "" && v.unit.deploymentKey !== deploymentKey) ? [] : [v]
              })
            ),
          watch: (unitId) =>
            Stream.unwrap(Effect.gen(function*() {
              const sub = yield* PubSub.subscribe(changes)
              const wanted = (s: UnitStatus) => unitId === "" || s.unitId === unitId
              const current = [...statuses.values()].filter(wanted)
              return Stream.concat(
                Stream.fromIterable(current),
                Stream.fromSubscription(sub).pipe(Stream.filter(wanted)),
              )
            })),
          summary: Effect.gen(function*() {
            const all = [...statuses.values()]
            const replicas = yield* driver.replicas()
            return {
              units: all.length,
              available: all.filter((s) =>
                s.conditions.some((c) => c.type === "Available" && c.status === "True")
              ).length,
              replicas: replicas.length,
            }
          }),
        })
        const reports = NfrReports.of({
          report: (unitId, report) =>
            Effect.gen(function*() {
              // The loop reports every interval; only a change is worth a reconcile pass.
              const same = (a: NfrReport | undefined) =>
                a !== undefined && a.status === report.status && a.reason === report.reason &&
                a.message === report.message &&
                JSON.stringify(a.recommendation) === JSON.stringify(report.recommendation)
              if (same(nfr.get(unitId))) return
              nfr.set(unitId, report)
              yield* controller.enqueue(unitId)
            }),
          units: Effect.sync(() => [...units.values()]),
        })
        return Context.make(Runtime, runtime).pipe(Context.add(NfrReports, reports))
      }),
    )
}
