import { Clock, Deferred, Duration, Effect, Fiber, Layer, Option, PubSub, Redacted, Scope, Stream } from "effect"
import { type DeploymentUnit, NotFound, ValidationError } from "@oprc/models"
import { classCredential } from "@oprc/rpc"
import type { CrmConfig, ProcessDriverConfig } from "../../config"
import { recordRestart } from "../../Metrics"
import { CrmStore, replicaKey } from "../../storage/CrmStore"
import { Driver, DriverError, type FunctionObservation, type Replica, type UnitObservation } from "../Driver"
import { lastLine, logFile, rotateIfLarge } from "./logs"
import { OdgmCollections } from "./OdgmCollections"
import { Processes } from "./Processes"
import { boundFunctions, clampReplicas, collectionFor, desiredReplicas, type FunctionPlan, globalClass, knownTemplates, planFunction } from "./spec"
import { conditionsOf, type FunctionHealth, type ReplicaState, slot, times, type UnitRuntime } from "./state"

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
export const makeProcessDriver = (options: ProcessDriverOptions) =>
  Effect.gen(function* () {
    const scope = yield* Scope.Scope
    const processes = yield* Processes
    const odgm = yield* OdgmCollections
    const store = yield* CrmStore
    const cfg = options.process
    const changes = yield* PubSub.unbounded<string>()
    const runtimes = new Map<string, UnitRuntime>()
    const now = Clock.currentTimeMillis
    const changed = (unitId: string) => PubSub.publish(changes, unitId)

    const runtimeOf = (unitId: string): UnitRuntime => {
      let rt = runtimes.get(unitId)
      if (rt === undefined) {
        rt = { unit: undefined, replicas: new Map(), surge: new Map(), stopping: new Set(), health: new Map(), applied: undefined, fatal: undefined }
        runtimes.set(unitId, rt)
      }
      return rt
    }
    const healthOf = (rt: UnitRuntime, fn: string): FunctionHealth => {
      let h = rt.health.get(fn)
      if (h === undefined) rt.health.set(fn, (h = { exits: [], crashes: 0, nextStartAt: 0, lastError: "" }))
      return h
    }

    const probe = (url: string) =>
      Effect.tryPromise({
        try: (signal) => fetch(`${url}/readyz`, { signal: AbortSignal.any([signal, AbortSignal.timeout(1000)]) }).then((r) => r.status === 200),
        catch: () => false,
      }).pipe(Effect.catch(() => Effect.succeed(false)))

    /** A replica exited without being asked to: count it, schedule the restart, say why. */
    const crashed = (rt: UnitRuntime, r: ReplicaState, why: string) =>
      Effect.gen(function* () {
        const t = yield* now
        if (rt.replicas.get(slot(r.fn, r.index)) === r) rt.replicas.delete(slot(r.fn, r.index))
        if (rt.surge.get(slot(r.fn, r.index)) === r) rt.surge.delete(slot(r.fn, r.index))
        yield* store.replicas.delete(replicaKey(r.unitId, r.fn, r.index, r.specHash)).pipe(Effect.ignore)
        const h = healthOf(rt, r.fn)
        // A replica that ran for a whole crash-loop window starts the backoff over.
        if (t - r.startedAt > cfg.crashLoopWindowMs) h.crashes = 0
        h.crashes++
        h.exits = [...h.exits.filter((e) => t - e < cfg.crashLoopWindowMs), t]
        const delay = Math.min(cfg.restartMaxMs, cfg.restartBaseMs * 2 ** (h.crashes - 1))
        h.nextStartAt = t + delay
        const stderr = lastLine(logFile(cfg.logDir, r.unitId, r.fn, r.index, "stderr"))
        h.lastError = `function \`${r.fn}\`: ${why}${stderr === "" ? "" : ` (last stderr line: ${stderr})`}; restarting in ${delay} ms`
        yield* recordRestart(r.unitId, r.fn)
        yield* Effect.logWarning(`unit ${r.unitId}: ${h.lastError}`)
        yield* changed(r.unitId)
      })

    /** Follows one replica: readiness first (bounded by startTimeoutMs), then its exit. */
    const watch = (rt: UnitRuntime, r: ReplicaState, exit: Effect.Effect<string>) =>
      Effect.gen(function* () {
        const readiness = Effect.gen(function* () {
          const deadline = (yield* now) + cfg.startTimeoutMs
          // Probe often at first (most functions listen within tens of ms), then back off.
          let pause = 10
          while (!(yield* probe(r.url))) {
            if ((yield* now) > deadline) {
              r.startFailure = `did not answer ${r.url}/readyz within ${cfg.startTimeoutMs} ms`
              return yield* processes.stop(r.pid, r.ticks, cfg.stopGraceMs)
            }
            yield* Effect.sleep(Duration.millis(pause))
            pause = Math.min(pause * 2, 200)
          }
          if (r.phase === "starting") r.phase = "ready"
          yield* changed(r.unitId)
        })
        const fiber = yield* Effect.forkChild(readiness)
        const why = yield* exit
        yield* Fiber.interrupt(fiber)
        if (r.phase === "stopping") return
        yield* crashed(rt, r, r.startFailure ?? why)
      }).pipe(Effect.forkIn(scope))

    const describeExit = (argv: ReadonlyArray<string>, code: number | null, signal: string | null) =>
      `command \`${argv.join(" ")}\` ${code !== null ? `exited with code ${code}` : `was stopped by ${signal ?? "an unknown signal"}`}`

    const envFor = (unit: DeploymentUnit, plan: Extract<FunctionPlan, { kind: "process" }>, index: number, port: number): Record<string, string> => ({
      ...options.baseEnv,
      ...plan.fn.config,
      PORT: String(port),
      HOST: cfg.host,
      ODGM_URL: options.odgm.url,
      OPRC_CLASS: globalClass(unit),
      OPRC_FUNCTION: plan.fn.key,
      OPRC_UNIT: unit.id,
      OPRC_REPLICA: String(index),
      OTEL_SERVICE_NAME: `${globalClass(unit)}/${plan.fn.key}`,
      OTEL_RESOURCE_ATTRIBUTES: `oprc.class=${globalClass(unit)},oprc.function=${plan.fn.key},oprc.deployment=${unit.deploymentKey}`,
      ...(options.otlpEndpoint === undefined ? {} : { OTEL_EXPORTER_OTLP_ENDPOINT: options.otlpEndpoint }),
      // The class credential (reaches PRIVATE functions of its own class) and the internal one.
      ...(options.odgm.internalToken === undefined ? {} : {
        OPRC_INTERNAL_TOKEN: Redacted.value(options.odgm.internalToken),
        OPRC_CALLER_TOKEN: classCredential(options.odgm.internalToken, globalClass(unit)),
      }),
    })

    /** Starts replica `index` of a function; a failure to start counts as a crash. */
    const start = (rt: UnitRuntime, unit: DeploymentUnit, plan: Extract<FunctionPlan, { kind: "process" }>, index: number, into: "replicas" | "surge" = "replicas") =>
      Effect.gen(function* () {
        const fixed = plan.fn.provision.port
        const port = fixed === 0 ? yield* processes.freePort(cfg.host).pipe(Effect.mapError((e) => e.reason)) : fixed + index
        if (fixed !== 0 && !(yield* processes.portFree(cfg.host, port))) {
          return yield* Effect.fail(`port ${port} (provision.port${index > 0 ? ` + ${index}` : ""}) is taken on ${cfg.host}`)
        }
        const spawned = yield* processes.spawn({
          argv: plan.argv,
          cwd: plan.cwd,
          env: envFor(unit, plan, index, port),
          stdoutFile: logFile(cfg.logDir, unit.id, plan.fn.key, index, "stdout"),
          stderrFile: logFile(cfg.logDir, unit.id, plan.fn.key, index, "stderr"),
        }).pipe(Effect.mapError((e) => e.reason))
        const startedAt = yield* now
        const r: ReplicaState = {
          unitId: unit.id, fn: plan.fn.key, index, specHash: plan.specHash, argv: plan.argv, port,
          url: `http://${cfg.host}:${port}`, pid: spawned.pid, ticks: spawned.ticks, startedAt, phase: "starting", startFailure: undefined,
        }
        rt[into].set(slot(r.fn, index), r)
        yield* store.replicas.upsert(replicaKey(unit.id, r.fn, index, r.specHash), {
          unitId: unit.id, function: r.fn, index, pid: r.pid, startTicks: r.ticks, port, specHash: r.specHash, startedAt,
        }).pipe(Effect.ignore)
        yield* watch(rt, r, Effect.map(Deferred.await(spawned.exit), (e) => describeExit(r.argv, e.code, e.signal)))
      }).pipe(
        Effect.catch((reason: string) =>
          Effect.gen(function* () {
            const t = yield* now
            const h = healthOf(rt, plan.fn.key)
            h.crashes++
            h.exits = [...h.exits.filter((e) => t - e < cfg.crashLoopWindowMs), t]
            const delay = Math.min(cfg.restartMaxMs, cfg.restartBaseMs * 2 ** (h.crashes - 1))
            h.nextStartAt = t + delay
            h.lastError = `function \`${plan.fn.key}\`: ${reason}; retrying in ${delay} ms`
            yield* Effect.logWarning(`unit ${unit.id}: ${h.lastError}`)
          })
        ),
      )

    /** Takes a replica out of service: not ready (so the next collection excludes it), then stopped. */
    const stop = (rt: UnitRuntime, r: ReplicaState) =>
      Effect.gen(function* () {
        yield* processes.stop(r.pid, r.ticks, cfg.stopGraceMs)
        yield* store.replicas.delete(replicaKey(r.unitId, r.fn, r.index, r.specHash)).pipe(Effect.ignore)
        rt.stopping.delete(r)
        yield* changed(r.unitId)
      })
    const retire = (rt: UnitRuntime, r: ReplicaState) => {
      r.phase = "stopping"
      if (rt.replicas.get(slot(r.fn, r.index)) === r) rt.replicas.delete(slot(r.fn, r.index))
      if (rt.surge.get(slot(r.fn, r.index)) === r) rt.surge.delete(slot(r.fn, r.index))
      rt.stopping.add(r)
    }

    const scaleOverrides = (unit: DeploymentUnit) =>
      store.scale.get(unit.id).pipe(
        Effect.map((o) => (Option.isSome(o) && o.value.value.generation === unit.generation ? o.value.value.replicas : {})),
        Effect.catch(() => Effect.succeed({} as Record<string, number>)),
      )

    const observe = (rt: UnitRuntime, unit: DeploymentUnit, plans: ReadonlyArray<FunctionPlan>, overrides: Record<string, number>, t: number): UnitObservation => {
      const crashLooping: Array<string> = []
      const rollingOut: Array<string> = []
      let wait: number | undefined
      const functions = plans.map((p): FunctionObservation => {
        if (p.kind === "external") return { function: p.fn.key, desiredReplicas: 1, readyReplicas: 1, urls: [p.url], message: "" }
        if (p.kind === "invalid") return { function: p.fn.key, desiredReplicas: 0, readyReplicas: 0, urls: [], message: p.reason }
        const desired = desiredReplicas(p.fn, overrides[p.fn.key])
        const ready = [...rt.replicas.values()].filter((r) => r.fn === p.fn.key && r.phase === "ready").sort((a, b) => a.index - b.index)
        const h = healthOf(rt, p.fn.key)
        if (ready.length >= desired) h.lastError = ""
        const recent = h.exits.filter((e) => t - e < cfg.crashLoopWindowMs)
        if (ready.length < desired && recent.length >= cfg.crashLoopCount) {
          const window = `${Math.round(cfg.crashLoopWindowMs / 1000)} s`
          crashLooping.push(`function \`${p.fn.key}\`: \`${p.argv.join(" ")}\` failed ${times(recent.length)} in ${window}: ${h.lastError.replace(`function \`${p.fn.key}\`: `, "")}`)
        }
        if (ready.length < desired && h.nextStartAt > t) wait = Math.min(wait ?? Infinity, h.nextStartAt - t)
        const outdated = [...rt.replicas.values()].filter((r) => r.fn === p.fn.key && r.specHash !== p.specHash).length
        if (outdated > 0) {
          rollingOut.push(`function \`${p.fn.key}\`: ${desired - outdated}/${desired} replicas on generation ${unit.generation}, the rest serve until their replacement is ready`)
          if (h.nextStartAt > t) wait = Math.min(wait ?? Infinity, h.nextStartAt - t)
        }
        return { function: p.fn.key, desiredReplicas: desired, readyReplicas: ready.length, urls: ready.map((r) => r.url), message: h.lastError }
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
      Effect.gen(function* () {
        const rt = runtimeOf(unit.id)
        rt.unit = unit
        const t = yield* now
        const plans = boundFunctions(unit).map((f) => planFunction(unit, f, cfg.workDir))
        const invalid = plans.filter((p) => p.kind === "invalid")
        rt.fatal = !knownTemplates.includes(unit.template)
          ? { reason: "UnknownTemplate", message: `template "${unit.template}" is not known to the process driver (known: process)` }
          : invalid.length > 0
          ? { reason: "InvalidFunction", message: invalid.map((p) => p.reason).join("; ") }
          : undefined
        const overrides = yield* scaleOverrides(unit)
        const wanted = new Map<string, number>()
        if (rt.fatal === undefined) {
          for (const p of plans) if (p.kind === "process") wanted.set(p.fn.key, desiredReplicas(p.fn, overrides[p.fn.key]))
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
          const useless = plan === undefined || next.index >= (wanted.get(next.fn) ?? 0) || next.specHash !== plan.specHash ||
            (current !== undefined && current.specHash === plan.specHash)
          if (useless) drained.push(next)
        }
        for (const r of drained) retire(rt, r)
        for (const r of outdated) {
          const key = slot(r.fn, r.index)
          const next = rt.surge.get(key)
          if (next?.phase === "ready") {
            rt.surge.delete(key)
            rt.replicas.set(key, next)
            retire(rt, r)
            drained.push(r)
          } else if (next === undefined && t >= healthOf(rt, r.fn).nextStartAt) {
            yield* start(rt, unit, processPlan(r.fn)!, r.index, "surge")
          }
        }
        for (const p of plans) {
          if (p.kind !== "process") continue
          const h = healthOf(rt, p.fn.key)
          for (let i = 0; i < (wanted.get(p.fn.key) ?? 0); i++) {
            if (!rt.replicas.has(slot(p.fn.key, i)) && t >= h.nextStartAt) yield* start(rt, unit, p, i)
          }
        }
        const urls = new Map<string, ReadonlyArray<string>>()
        for (const p of plans) {
          if (p.kind === "external") urls.set(p.fn.key, [p.url])
          if (p.kind === "process") {
            urls.set(p.fn.key, [...rt.replicas.values()].filter((r) => r.fn === p.fn.key && r.phase === "ready").sort((a, b) => a.index - b.index).map((r) => r.url))
          }
        }
        const collection = collectionFor(unit, urls)
        const fingerprint = JSON.stringify(collection)
        if (fingerprint !== rt.applied) {
          yield* odgm.apply(collection).pipe(
            Effect.mapError((e) => new DriverError({ unitId: unit.id, reason: `cannot apply collection ${collection.name} to ODGM at ${odgm.url} (${e.code}): ${e.reason}` })),
          )
          rt.applied = fingerprint
        }
        // Only now, with no route left to them, are drained replicas stopped.
        for (const r of drained) yield* Effect.forkIn(stop(rt, r), scope)
        return observe(rt, unit, plans, overrides, yield* now)
      }).pipe(Effect.withSpan("ProcessDriver.reconcile", { attributes: { "oprc.unit": unit.id } }))

    const remove = (unitId: string, last?: DeploymentUnit) =>
      Effect.gen(function* () {
        const rt = runtimes.get(unitId) ?? (last === undefined ? undefined : runtimeOf(unitId))
        if (rt === undefined) return
        if (rt.unit === undefined && last !== undefined) rt.unit = last
        if (rt.unit !== undefined) {
          yield* odgm.remove(globalClass(rt.unit)).pipe(
            Effect.mapError((e) => new DriverError({ unitId, reason: `cannot remove collection ${globalClass(rt.unit!)} from ODGM at ${odgm.url} (${e.code}): ${e.reason}` })),
          )
        }
        const all = [...rt.replicas.values(), ...rt.surge.values(), ...rt.stopping]
        for (const r of [...rt.replicas.values(), ...rt.surge.values()]) retire(rt, r)
        yield* Effect.forEach(all, (r) => stop(rt, r), { concurrency: "unbounded", discard: true })
        yield* store.scale.delete(unitId).pipe(Effect.ignore)
        runtimes.delete(unitId)
      }).pipe(Effect.withSpan("ProcessDriver.remove", { attributes: { "oprc.unit": unitId } }))

    // Adopt what an earlier CRM started: live processes keep running, dead ones are forgotten.
    const records = yield* store.replicas.list().pipe(Effect.orDie)
    for (const { value: rec } of records.items) {
      if (!(yield* processes.alive(rec.pid, rec.startTicks))) {
        yield* store.replicas.delete(replicaKey(rec.unitId, rec.function, rec.index, rec.specHash)).pipe(Effect.ignore)
        continue
      }
      const rt = runtimeOf(rec.unitId)
      const r: ReplicaState = {
        unitId: rec.unitId, fn: rec.function, index: rec.index, specHash: rec.specHash, argv: [], port: rec.port,
        url: `http://${cfg.host}:${rec.port}`, pid: rec.pid, ticks: rec.startTicks, startedAt: rec.startedAt, phase: "starting", startFailure: undefined,
      }
      // Two live processes for one slot: a rollout was under way; the newer one is its replacement.
      const key = slot(r.fn, r.index)
      const other = rt.replicas.get(key)
      if (other === undefined) rt.replicas.set(key, r)
      else if (other.startedAt <= r.startedAt) rt.surge.set(key, r)
      else {
        rt.replicas.set(key, r)
        rt.surge.set(key, other)
      }
      // Not our child: no exit event, so its life is checked every livenessMs.
      const gone = Effect.gen(function* () {
        while (yield* processes.alive(r.pid, r.ticks)) yield* Effect.sleep(Duration.millis(cfg.livenessMs))
        return "stopped unexpectedly (an adopted process: its exit code is unknown)"
      })
      yield* watch(rt, r, gone)
      yield* Effect.logInfo(`unit ${rec.unitId}: adopted replica ${rec.index} of ${rec.function} (pid ${rec.pid}, port ${rec.port})`)
    }

    // Log rotation: a size check every 10 s, not a hot loop.
    yield* Effect.sync(() => {
      for (const rt of runtimes.values()) {
        for (const r of rt.replicas.values()) {
          for (const s of ["stdout", "stderr"] as const) rotateIfLarge(logFile(cfg.logDir, r.unitId, r.fn, r.index, s), cfg.logMaxBytes, cfg.logFiles)
        }
      }
    }).pipe(Effect.andThen(Effect.sleep("10 seconds")), Effect.forever, Effect.forkIn(scope))

    if (cfg.stopOnExit) {
      yield* Effect.addFinalizer(() =>
        Effect.forEach([...runtimes.values()].flatMap((rt) => [...rt.replicas.values(), ...rt.surge.values(), ...rt.stopping]), (r) => {
          r.phase = "stopping"
          return processes.stop(r.pid, r.ticks, Math.min(cfg.stopGraceMs, 1500))
        }, { concurrency: "unbounded", discard: true })
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
      Effect.gen(function* () {
        const unit = runtimes.get(unitId)?.unit
        if (unit === undefined) return yield* new NotFound({ resource: "deployment unit", name: unitId })
        const f = unit.functions.find((x) => x.key === fn)
        if (f === undefined) return yield* ValidationError.single("function", `"${fn}" is not a function of unit ${unitId}`)
        if (!Number.isFinite(n) || n < 0) return yield* ValidationError.single("replicas", "must be a non-negative number")
        const replicasNow = clampReplicas(f, n)
        const current = yield* store.scale.get(unitId).pipe(Effect.orDie)
        const base = Option.isSome(current) && current.value.value.generation === unit.generation ? current.value.value.replicas : {}
        yield* store.scale.upsert(unitId, { generation: unit.generation, replicas: { ...base, [fn]: replicasNow } }).pipe(Effect.orDie)
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
      ready: odgm.ping.pipe(Effect.mapError((e) => new DriverError({ unitId: "", reason: `ODGM at ${odgm.url} does not answer (${e.code}): ${e.reason}` }))),
    })
  })

/** The process driver as the CRM's Driver. */
export const ProcessDriverLayer = (options: ProcessDriverOptions) => Layer.effect(Driver)(makeProcessDriver(options))
