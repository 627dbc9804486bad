import { Clock, Effect, Layer, Option, PubSub, Scope, Stream } from "effect"
import { type DeploymentUnit, NotFound, ValidationError } from "@oprc/models"
import type { CrmConfig, ProcessDriverConfig } from "../../config"
import { CrmStore } from "../../storage/CrmStore"
import { Driver, DriverError, type FunctionObservation, type Replica, type UnitObservation } from "../Driver"
import { makeLifecycle } from "./Lifecycle"
import { logFile, rotateIfLarge } from "./logs"
import { OdgmCollections } from "./OdgmCollections"
import { Processes } from "./Processes"
import {
  boundFunctions,
  clampReplicas,
  collectionFor,
  desiredReplicas,
  type FunctionPlan,
  globalClass,
  knownTemplates,
  planFunction,
} from "./spec"
import { conditionsOf, type ReplicaState, slot, times, type UnitRuntime } from "./state"

export interface ProcessDriverOptions {
  readonly process: ProcessDriverConfig
  readonly odgm: CrmConfig["odgm"]
  readonly otlpEndpoint: string | undefined
  /** The part of the CRM's environment functions inherit (PATH, HOME, ...). */
  readonly baseEnv: Readonly<Record<string, string>>
}

/**
 * The process driver: each function replica is a local process started from the function's
 * `provision.command`, on its own port, registered with ODGM once it answers /readyz and removed
 * from ODGM before it is stopped. Crashed replicas restart with exponential backoff; a restarted
 * CRM adopts the processes an earlier one recorded (pid + start time) instead of starting more.
 * Processes, ODGM, the store and time are services, so tests swap any of them.
 */
const makeProcessDriver = (options: ProcessDriverOptions) =>
  Effect.gen(function*() {
    const scope = yield* Scope.Scope
    const odgm = yield* OdgmCollections
    const processes = yield* Processes
    const store = yield* CrmStore
    const cfg = options.process
    const now = Clock.currentTimeMillis
    const { runtimes, changes, runtimeOf, healthOf, start, stop, retire, adopt } = yield* makeLifecycle(options)
    const changed = (unitId: string) => PubSub.publish(changes, unitId)

    const scaleOverrides = (unit: DeploymentUnit) =>
      store.scale.get(unit.id).pipe(
        Effect.map((
          o,
        ) => (Option.isSome(o) && o.value.value.generation === unit.generation ? o.value.value.replicas : {})),
        Effect.catch(() => Effect.succeed({} as Record<string, number>)),
      )

    const observe = (
      rt: UnitRuntime,
      unit: DeploymentUnit,
      plans: ReadonlyArray<FunctionPlan>,
      overrides: Record<string, number>,
      t: number,
    ): UnitObservation => {
      const crashLooping: Array<string> = []
      const rollingOut: Array<string> = []
      let wait: number | undefined
      const functions = plans.map((p): FunctionObservation => {
        if (p.kind === "external") {
          return { function: p.fn.key, desiredReplicas: 1, readyReplicas: 1, urls: [p.url], message: "" }
        }
        if (p.kind === "invalid") {
          return { function: p.fn.key, desiredReplicas: 0, readyReplicas: 0, urls: [], message: p.reason }
        }
        const desired = desiredReplicas(p.fn, overrides[p.fn.key])
        const ready = [...rt.replicas.values()].filter((r) => r.fn === p.fn.key && r.phase === "ready").sort((a, b) =>
          a.index - b.index
        )
        const h = healthOf(rt, p.fn.key)
        if (ready.length >= desired) {
          h.lastError = ""
        }
        const recent = h.exits.filter((e) => t - e < cfg.crashLoopWindowMs)
        if (ready.length < desired && recent.length >= cfg.crashLoopCount) {
          const window = `${Math.round(cfg.crashLoopWindowMs / 1000)} s`
          crashLooping.push(
            `function \`${p.fn.key}\`: \`${p.argv.join(" ")}\` failed ${times(recent.length)} in ${window}: ${
              h.lastError.replace(`function \`${p.fn.key}\`: `, "")
            }`,
          )
        }
        if (ready.length < desired && h.nextStartAt > t) {
          wait = Math.min(wait ?? Infinity, h.nextStartAt - t)
        }
        const outdated = [...rt.replicas.values()].filter((r) => r.fn === p.fn.key && r.specHash !== p.specHash).length
        if (outdated > 0) {
          rollingOut.push(
            `function \`${p.fn.key}\`: ${
              desired - outdated
            }/${desired} replicas on generation ${unit.generation}, the rest serve until their replacement is ready`,
          )
          if (h.nextStartAt > t) wait = Math.min(wait ?? Infinity, h.nextStartAt - t)
        }
        return {
          function: p.fn.key,
          desiredReplicas: desired,
          readyReplicas: ready.length,
          urls: ready.map((r) => r.url),
          message: h.lastError,
        }
      })
      return {
        unitId: unit.id,
        generation: unit.generation,
        functions,
        conditions: conditionsOf(unit.generation, functions, rt.fatal, crashLooping, rollingOut),
        odgmUrl: options.odgm.url,
        requeueAfterMs: wait === undefined ? undefined : Math.max(10, Math.ceil(wait)),
      }
    }

    const reconcile = (unit: DeploymentUnit) =>
      Effect.gen(function*() {
        const rt = runtimeOf(unit.id)
        rt.unit = unit
        const t = yield* now
        const plans = boundFunctions(unit).map((f) => planFunction(unit, f, cfg.workDir))
        const invalid = plans.filter((p) => p.kind === "invalid")
        rt.fatal = !knownTemplates.includes(unit.template)
          ? {
            reason: "UnknownTemplate",
            message: `template "${unit.template}" is not known to the process driver (known: process)`,
          }
          : invalid.length > 0
          ? { reason: "InvalidFunction", message: invalid.map((p) => p.reason).join("; ") }
          : undefined
        const overrides = yield* scaleOverrides(unit)
        const wanted = new Map<string, number>()
        if (rt.fatal === undefined) {
          for (const p of plans) {
            if (p.kind === "process") wanted.set(p.fn.key, desiredReplicas(p.fn, overrides[p.fn.key]))
          }
        }
        // Replicas no longer wanted (scale-in, changed spec, removed function, unrunnable unit) leave the routes first.
        const drained: Array<ReplicaState> = []
        const processPlan = (fn: string) => {
          const plan = plans.find((p) => p.fn.key === fn)
          return plan?.kind === "process" ? plan : undefined
        }
        // A ready replica with an outdated spec keeps serving until its replacement (surge) is ready.
        const outdated: Array<ReplicaState> = []
        for (const r of rt.replicas.values()) {
          const plan = processPlan(r.fn)
          if (plan === undefined || r.index >= (wanted.get(r.fn) ?? 0)) drained.push(r)
          else if (plan.specHash !== r.specHash) (r.phase === "ready" ? outdated : drained).push(r)
        }
        for (const [key, next] of rt.surge) {
          const plan = processPlan(next.fn)
          const current = rt.replicas.get(key)
          const useless = plan === undefined || next.index >= (wanted.get(next.fn) ?? 0) ||
            next.specHash !== plan.specHash ||
            (current !== undefined && current.specHash === plan.specHash)
          if (useless) drained.push(next)
        }
        const routed = new Set<ReplicaState>()
        for (const r of drained) if (retire(rt, r)) routed.add(r)
        for (const r of outdated) {
          const key = slot(r.fn, r.index)
          const next = rt.surge.get(key)
          if (next?.phase === "ready") {
            rt.surge.delete(key)
            rt.replicas.set(key, next)
            if (retire(rt, r)) routed.add(r)
            drained.push(r)
          } else if (next === undefined && t >= healthOf(rt, r.fn).nextStartAt) {
            yield* start(rt, unit, processPlan(r.fn)!, r.index, "surge")
          }
        }
        for (const p of plans) {
          if (p.kind !== "process") continue
          const h = healthOf(rt, p.fn.key)
          for (let i = 0; i < (wanted.get(p.fn.key) ?? 0); i++) {
            const key = slot(p.fn.key, i)
            if (rt.replicas.has(key)) continue
            // The old process of a slot being rolled over died: its replacement takes the slot.
            const next = rt.surge.get(key)
            if (next !== undefined && next.specHash === p.specHash) {
              rt.surge.delete(key)
              rt.replicas.set(key, next)
            } else if (t >= h.nextStartAt) yield* start(rt, unit, p, i)
          }
        }
        const urls = new Map<string, ReadonlyArray<string>>()
        for (const p of plans) {
          if (p.kind === "external") urls.set(p.fn.key, [p.url])
          if (p.kind === "process") {
            urls.set(
              p.fn.key,
              [...rt.replicas.values()].filter((r) => r.fn === p.fn.key && r.phase === "ready").sort((a, b) =>
                a.index - b.index
              ).map((r) => r.url),
            )
          }
        }
        const collection = collectionFor(unit, urls)
        const fingerprint = JSON.stringify(collection)
        if (fingerprint !== rt.applied) {
          yield* odgm.apply(collection).pipe(
            Effect.mapError((e) =>
              new DriverError({
                unitId: unit.id,
                reason: `cannot apply collection ${collection.name} to ODGM at ${odgm.url} (${e.code}): ${e.reason}`,
              })
            ),
          )
          rt.applied = fingerprint
        }
        // Only now, with no route left to them, are drained replicas stopped.
        for (const r of drained) yield* Effect.forkIn(stop(rt, r, routed.has(r)), scope)
        return observe(rt, unit, plans, overrides, yield* now)
      }).pipe(Effect.withSpan("ProcessDriver.reconcile", { attributes: { "oprc.unit": unit.id } }))

    const remove = (unitId: string, last?: DeploymentUnit) =>
      Effect.gen(function*() {
        const rt = runtimes.get(unitId) ?? (last === undefined ? undefined : runtimeOf(unitId))
        if (rt === undefined) return
        if (rt.unit === undefined && last !== undefined) rt.unit = last
        if (rt.unit !== undefined) {
          yield* odgm.remove(globalClass(rt.unit)).pipe(
            Effect.mapError((e) =>
              new DriverError({
                unitId,
                reason: `cannot remove collection ${
                  globalClass(rt.unit!)
                } from ODGM at ${odgm.url} (${e.code}): ${e.reason}`,
              })
            ),
          )
        }
        const all = [...rt.replicas.values(), ...rt.surge.values(), ...rt.stopping]
        const routed = new Set([...rt.replicas.values(), ...rt.surge.values()].filter((r) => retire(rt, r)))
        yield* Effect.forEach(all, (r) => stop(rt, r, routed.has(r)), { concurrency: "unbounded", discard: true })
        yield* store.scale.delete(unitId).pipe(Effect.ignore)
        runtimes.delete(unitId)
      }).pipe(Effect.withSpan("ProcessDriver.remove", { attributes: { "oprc.unit": unitId } }))

    yield* adopt

    // Log rotation: a size check every 10 s, not a hot loop.
    yield* Effect.sync(() => {
      for (const rt of runtimes.values()) {
        for (const r of rt.replicas.values()) {
          for (const s of ["stdout", "stderr"] as const) {
            rotateIfLarge(logFile(cfg.logDir, r.unitId, r.fn, r.index, s), cfg.logMaxBytes, cfg.logFiles)
          }
        }
      }
    }).pipe(Effect.andThen(Effect.sleep("10 seconds")), Effect.forever, Effect.forkIn(scope))

    if (cfg.stopOnExit) {
      yield* Effect.addFinalizer(() =>
        Effect.forEach(
          [...runtimes.values()].flatMap((rt) => [...rt.replicas.values(), ...rt.surge.values(), ...rt.stopping]),
          (r) => {
            r.phase = "stopping"
            return processes.stop(r.pid, r.ticks, Math.min(cfg.stopGraceMs, 1500))
          },
          { concurrency: "unbounded", discard: true },
        )
      )
    }

    const replicas = (unitId?: string) =>
      Effect.sync(() =>
        [...runtimes.entries()]
          .filter(([id]) => unitId === undefined || id === unitId)
          .flatMap(([id, rt]) =>
            [...rt.replicas.values(), ...rt.surge.values()].map((r): Replica => ({
              unitId: id,
              deploymentKey: rt.unit?.deploymentKey ?? "",
              cls: rt.unit === undefined ? "" : globalClass(rt.unit),
              function: r.fn,
              index: r.index,
              url: r.url,
              ready: r.phase === "ready",
              pid: r.pid,
              labels: {
                oprc_class: rt.unit === undefined ? "" : globalClass(rt.unit),
                oprc_function: r.fn,
                oprc_deployment: rt.unit?.deploymentKey ?? "",
                oprc_unit: id,
                oprc_replica: String(r.index),
              },
            }))
          )
      )

    const scale = (unitId: string, fn: string, n: number) =>
      Effect.gen(function*() {
        const unit = runtimes.get(unitId)?.unit
        if (unit === undefined) return yield* new NotFound({ resource: "deployment unit", name: unitId })
        const f = unit.functions.find((x) => x.key === fn)
        if (f === undefined) {
          return yield* ValidationError.single("function", `"${fn}" is not a function of unit ${unitId}`)
        }
        if (!Number.isFinite(n) || n < 0) {
          return yield* ValidationError.single("replicas", "must be a non-negative number")
        }
        const replicasNow = clampReplicas(f, n)
        const current = yield* store.scale.get(unitId).pipe(Effect.orDie)
        const base = Option.isSome(current) && current.value.value.generation === unit.generation
          ? current.value.value.replicas
          : {}
        yield* store.scale.upsert(unitId, { generation: unit.generation, replicas: { ...base, [fn]: replicasNow } })
          .pipe(Effect.orDie)
        yield* changed(unitId)
        return replicasNow
      })

    return Driver.of({
      name: "process",
      reconcile,
      remove,
      scale,
      replicas,
      changes: Stream.fromPubSub(changes),
      ready: odgm.ping.pipe(
        Effect.mapError((e) =>
          new DriverError({ unitId: "", reason: `ODGM at ${odgm.url} does not answer (${e.code}): ${e.reason}` })
        ),
      ),
    })
  })

/** The process driver as the CRM's Driver. */
export const ProcessDriverLayer = (options: ProcessDriverOptions) => Layer.effect(Driver)(makeProcessDriver(options))
