import { Clock, Deferred, Duration, Effect, Fiber, PubSub, Redacted, Scope } from "effect"
import type { DeploymentUnit } from "@oprc/models"
import { classCredential } from "@oprc/rpc"
import { recordRestart } from "../../Metrics"
import { CrmStore, replicaKey } from "../../storage/CrmStore"
import { lastLine, logFile } from "./logs"
import { Processes, SpawnError } from "./Processes"
import type { ProcessDriverOptions } from "./ProcessDriver"
import { type FunctionPlan, globalClass } from "./spec"
import { type FunctionHealth, type ReplicaState, slot, type UnitRuntime } from "./state"

/**
 * The life of replicas under the process driver: start (free port, env, log files, record),
 * follow (readiness, then exit), count crashes for the backoff, stop (SIGTERM, then SIGKILL),
 * and adopt the live processes an earlier CRM recorded. The reconcile pass decides what to
 * start and stop; this module does it and reports every change on `changes`.
 */
export const makeLifecycle = (options: ProcessDriverOptions) =>
  Effect.gen(function*() {
    const scope = yield* Scope.Scope
    const processes = yield* Processes
    const store = yield* CrmStore
    const cfg = options.process
    const changes = yield* PubSub.unbounded<string>()
    const runtimes = new Map<string, UnitRuntime>()
    const now = Clock.currentTimeMillis
    const changed = (unitId: string) => PubSub.publish(changes, unitId)

    const runtimeOf = (unitId: string): UnitRuntime => {
      let rt = runtimes.get(unitId)
      if (rt === undefined) {
        rt = {
          unit: undefined,
          replicas: new Map(),
          surge: new Map(),
          stopping: new Set(),
          health: new Map(),
          applied: undefined,
          fatal: undefined,
        }
        runtimes.set(unitId, rt)
      }
      return rt
    }
    const healthOf = (rt: UnitRuntime, fn: string): FunctionHealth => {
      let h = rt.health.get(fn)
      if (h === undefined) rt.health.set(fn, h = { exits: [], crashes: 0, nextStartAt: 0, lastError: "" })
      return h
    }

    const probe = (url: string) =>
      Effect.tryPromise({
        try: (signal) =>
          fetch(`${url}/readyz`, { signal: AbortSignal.any([signal, AbortSignal.timeout(1000)]) }).then((r) =>
            r.status === 200
          ),
        catch: () => false,
      }).pipe(Effect.catch(() => Effect.succeed(false)))

    /** A replica exited without being asked to: count it, schedule the restart, say why. */
    const crashed = (rt: UnitRuntime, r: ReplicaState, why: string) =>
      Effect.gen(function*() {
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
        h.lastError = `function \`${r.fn}\`: ${why}${
          stderr === "" ? "" : ` (last stderr line: ${stderr})`
        }; restarting in ${delay} ms`
        yield* recordRestart(r.unitId, r.fn)
        yield* Effect.logWarning(`unit ${r.unitId}: ${h.lastError}`)
        yield* changed(r.unitId)
      })

    /** Follows one replica: readiness first (bounded by startTimeoutMs), then its exit. */
    const watch = (rt: UnitRuntime, r: ReplicaState, exit: Effect.Effect<string>) =>
      Effect.gen(function*() {
        const readiness = Effect.gen(function*() {
          const deadline = (yield* now) + cfg.startTimeoutMs
          // Probe often at first (most functions listen within tens of ms), then back off.
          let pause = 10
          while (!(yield* probe(r.url))) {
            if ((yield* now) > deadline) {
              r.startFailure = `did not answer ${r.url}/readyz within ${cfg.startTimeoutMs} ms`
              return yield* processes.stop(r.pid, r.ticks, cfg.stopGraceMs)
            }
            yield* Effect.sleep(Duration.millis(pause))
            pause = Math.min(pause * 2, 50)
          }
          if (r.phase === "starting") r.phase = "ready"
          yield* changed(r.unitId)
          // Then a health check every healthIntervalMs: a replica that stops answering leaves the
          // route after healthFailures misses in a row, and rejoins once it answers again.
          let misses = 0
          for (;;) {
            yield* Effect.sleep(Duration.millis(cfg.healthIntervalMs))
            if (r.phase === "stopping") return
            const ok = yield* probe(r.url)
            misses = ok ? 0 : misses + 1
            const next: ReplicaState["phase"] = ok ? "ready" : misses >= cfg.healthFailures ? "starting" : r.phase
            if (next !== r.phase) {
              r.phase = next
              if (next === "starting") {
                healthOf(rt, r.fn).lastError =
                  `function \`${r.fn}\`: replica ${r.index} (${r.url}) failed ${misses} health checks in a row; out of the route until it answers /readyz again`
                yield* Effect.logWarning(`unit ${r.unitId}: ${healthOf(rt, r.fn).lastError}`)
              }
              yield* changed(r.unitId)
            }
          }
        })
        const fiber = yield* Effect.forkChild(readiness)
        const why = yield* exit
        yield* Fiber.interrupt(fiber)
        if (r.phase === "stopping") return
        yield* crashed(rt, r, r.startFailure ?? why)
      }).pipe(Effect.forkIn(scope))

    const describeExit = (argv: ReadonlyArray<string>, code: number | null, signal: string | null) =>
      `command \`${argv.join(" ")}\` ${
        code !== null ? `exited with code ${code}` : `was stopped by ${signal ?? "an unknown signal"}`
      }`

    const envFor = (
      unit: DeploymentUnit,
      plan: Extract<FunctionPlan, { kind: "process" }>,
      index: number,
      port: number,
    ): Record<string, string> => ({
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
      OTEL_RESOURCE_ATTRIBUTES: `oprc.class=${
        globalClass(unit)
      },oprc.function=${plan.fn.key},oprc.deployment=${unit.deploymentKey}`,
      ...(options.otlpEndpoint === undefined ? {} : { OTEL_EXPORTER_OTLP_ENDPOINT: options.otlpEndpoint }),
      // The class credential (reaches PRIVATE functions of its own class) and the internal one.
      ...(options.odgm.internalToken === undefined ? {} : {
        OPRC_INTERNAL_TOKEN: Redacted.value(options.odgm.internalToken),
        OPRC_CALLER_TOKEN: classCredential(options.odgm.internalToken, globalClass(unit)),
      }),
    })

    /** Starts replica `index` of a function; a failure to start counts as a crash. */
    const start = (
      rt: UnitRuntime,
      unit: DeploymentUnit,
      plan: Extract<FunctionPlan, { kind: "process" }>,
      index: number,
      into: "replicas" | "surge" = "replicas",
    ) =>
      Effect.gen(function*() {
        const fixed = plan.fn.provision.port
        const port = fixed === 0 ? yield* processes.freePort(cfg.host) : fixed + index
        if (fixed !== 0 && !(yield* processes.portFree(cfg.host, port))) {
          return yield* new SpawnError({
            reason: `port ${port} (provision.port${index > 0 ? ` + ${index}` : ""}) is taken on ${cfg.host}`,
          })
        }
        const spawned = yield* processes.spawn({
          argv: plan.argv,
          cwd: plan.cwd,
          env: envFor(unit, plan, index, port),
          stdoutFile: logFile(cfg.logDir, unit.id, plan.fn.key, index, "stdout"),
          stderrFile: logFile(cfg.logDir, unit.id, plan.fn.key, index, "stderr"),
        })
        const startedAt = yield* now
        const r: ReplicaState = {
          unitId: unit.id,
          fn: plan.fn.key,
          index,
          specHash: plan.specHash,
          argv: plan.argv,
          port,
          url: `http://${cfg.host}:${port}`,
          pid: spawned.pid,
          ticks: spawned.ticks,
          startedAt,
          phase: "starting",
          startFailure: undefined,
        }
        rt[into].set(slot(r.fn, index), r)
        yield* store.replicas.upsert(replicaKey(unit.id, r.fn, index, r.specHash), {
          unitId: unit.id,
          function: r.fn,
          index,
          pid: r.pid,
          startTicks: r.ticks,
          port,
          specHash: r.specHash,
          startedAt,
        }).pipe(Effect.ignore)
        yield* watch(rt, r, Effect.map(Deferred.await(spawned.exit), (e) => describeExit(r.argv, e.code, e.signal)))
      }).pipe(
        Effect.catch((e: SpawnError) =>
          Effect.gen(function*() {
            const t = yield* now
            const h = healthOf(rt, plan.fn.key)
            h.crashes++
            h.exits = [...h.exits.filter((e) => t - e < cfg.crashLoopWindowMs), t]
            const delay = Math.min(cfg.restartMaxMs, cfg.restartBaseMs * 2 ** (h.crashes - 1))
            h.nextStartAt = t + delay
            h.lastError = `function \`${plan.fn.key}\`: ${e.reason}; retrying in ${delay} ms`
            yield* Effect.logWarning(`unit ${unit.id}: ${h.lastError}`)
          })
        ),
      )

    /** Takes a replica out of service: not ready (so the next collection excludes it), then stopped. */
    const stop = (rt: UnitRuntime, r: ReplicaState, wasRouted: boolean) =>
      Effect.gen(function*() {
        // Calls ODGM sent before the route changed are still on their way: let them land first.
        if (wasRouted) yield* Effect.sleep(Duration.millis(cfg.drainDelayMs))
        yield* processes.stop(r.pid, r.ticks, cfg.stopGraceMs)
        yield* store.replicas.delete(replicaKey(r.unitId, r.fn, r.index, r.specHash)).pipe(Effect.ignore)
        rt.stopping.delete(r)
        yield* changed(r.unitId)
      })
    /** Returns whether it was serving (had a route) until now. */
    const retire = (rt: UnitRuntime, r: ReplicaState): boolean => {
      const wasRouted = r.phase === "ready"
      r.phase = "stopping"
      if (rt.replicas.get(slot(r.fn, r.index)) === r) rt.replicas.delete(slot(r.fn, r.index))
      if (rt.surge.get(slot(r.fn, r.index)) === r) rt.surge.delete(slot(r.fn, r.index))
      rt.stopping.add(r)
      return wasRouted
    }

    /** Adopts what an earlier CRM started: live processes keep running, dead ones are forgotten. */
    const adopt = Effect.gen(function*() {
      const records = yield* store.replicas.list().pipe(Effect.orDie)
      for (const { value: rec } of records.items) {
        if (!(yield* processes.alive(rec.pid, rec.startTicks))) {
          yield* store.replicas.delete(replicaKey(rec.unitId, rec.function, rec.index, rec.specHash)).pipe(
            Effect.ignore,
          )
          continue
        }
        const rt = runtimeOf(rec.unitId)
        const r: ReplicaState = {
          unitId: rec.unitId,
          fn: rec.function,
          index: rec.index,
          specHash: rec.specHash,
          argv: [],
          port: rec.port,
          url: `http://${cfg.host}:${rec.port}`,
          pid: rec.pid,
          ticks: rec.startTicks,
          startedAt: rec.startedAt,
          phase: "starting",
          startFailure: undefined,
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
        const gone = Effect.gen(function*() {
          while (yield* processes.alive(r.pid, r.ticks)) yield* Effect.sleep(Duration.millis(cfg.livenessMs))
          return "stopped unexpectedly (an adopted process: its exit code is unknown)"
        })
        yield* watch(rt, r, gone)
        yield* Effect.logInfo(
          `unit ${rec.unitId}: adopted replica ${rec.index} of ${rec.function} (pid ${rec.pid}, port ${rec.port})`,
        )
      }
    })

    return { runtimes, changes, runtimeOf, healthOf, start, stop, retire, adopt }
  })
