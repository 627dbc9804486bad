import { Clock, Context, Effect, Layer, Option, Schedule } from "effect"
import type { Condition, ConditionStatus } from "@oprc/models"
import type { NfrConfig } from "./config"
import { targetGroups, writeFileSd } from "./discovery"
import { recordNfrPass, recordScale, setRecommended } from "./NfrMetrics"
import { type FunctionNfrReport, NfrTarget, type NfrUnitReport, type NfrWorkload } from "./NfrTarget"
import { applied, boundsOf, type FunctionState, initialState, type ModelSettings, recommend, step } from "./model"
import { Prometheus } from "./Prometheus"
import { type Observation, observationOf, runQueries } from "./queries"

const noObservation: Observation = {
  rps: undefined,
  errorRate: undefined,
  p99Ms: undefined,
  cpuCores: undefined,
  memoryBytes: undefined,
}

const settingsOf = (c: NfrConfig): ModelSettings => ({
  defaultReplicaCapacityRps: c.defaultReplicaCapacityRps,
  saturation: c.saturation,
  scaleInHeadroom: c.scaleInHeadroom,
  stabilityMs: c.stabilityMs,
  cooldownMs: c.cooldownMs,
  // The rate window has to fill with samples of the new replica set, and the next pass see them.
  settleMs: c.rateWindowMs + c.intervalMs,
})

const f1 = (n: number | undefined, unit: string) => (n === undefined ? "n/a" : `${Math.round(n * 10) / 10}${unit}`)

/** The numbers of one function in words, for the condition message. */
const describeObservation = (o: Observation): string =>
  `${f1(o.rps, " rps")}, p99 ${f1(o.p99Ms, " ms")}, errors ${
    o.errorRate === undefined ? "n/a" : `${Math.round(o.errorRate * 1000) / 10}%`
  }, ` +
  `cpu ${f1(o.cpuCores, " cores")}, memory ${
    o.memoryBytes === undefined ? "n/a" : `${Math.round(o.memoryBytes / 1048576)} MiB`
  }`

const condition = (status: ConditionStatus, reason: string, message: string, generation: number): Condition => ({
  type: "NfrObserved",
  status,
  reason,
  message,
  observedGeneration: generation,
})

const key = (w: Pick<NfrWorkload, "unitId" | "function">) => `${w.unitId}\u0000${w.function}`

/**
 * The NFR analyzer and enforcer: every `nfr.intervalMs`, queries Prometheus once for all
 * functions, recommends a replica count per function (see model.ts), writes the numbers into
 * NfrObserved, and in enforce mode changes replica counts through the driver.
 */
export class NfrController extends Context.Service<NfrController, {
  /** One analysis pass over every workload; returns what it reported. */
  readonly analyze: Effect.Effect<ReadonlyArray<NfrUnitReport>>
}>()("crm/nfr/NfrController") {
  static readonly layer = (config: NfrConfig) =>
    Layer.effect(NfrController)(Effect.gen(function*() {
      const target = yield* NfrTarget
      const prometheus = yield* Effect.serviceOption(Prometheus)
      const settings = settingsOf(config)
      const states = new Map<string, FunctionState>()

      const unknownForAll = (
        workloads: ReadonlyArray<NfrWorkload>,
        reason: string,
        message: string,
        status: ConditionStatus = "Unknown",
      ) =>
        byUnit(workloads).map(([first, fns]): NfrUnitReport => ({
          unitId: first.unitId,
          generation: first.generation,
          condition: condition(status, reason, message, first.generation),
          functions: fns.map((w) => ({
            function: w.function,
            observation: noObservation,
            recommendedReplicas: w.desiredReplicas,
            reason: message,
            desiredReplicas: w.desiredReplicas,
            scaled: false,
            capacityRps: states.get(key(w))?.capacityRps ?? settings.defaultReplicaCapacityRps,
          })),
        }))

      const analyzeWorkload = (w: NfrWorkload, observation: Observation, now: number) =>
        Effect.gen(function*() {
          const state = states.get(key(w)) ?? initialState(settings)
          const ready = w.replicas.filter((r) => r.ready).length
          const bounds = boundsOf(w.minScale, w.maxScale, config.maxReplicas, w.nfr.availability)
          const rec = recommend(state.capacityRps, {
            observation,
            nfr: w.nfr,
            current: w.desiredReplicas,
            ready,
            bounds,
          }, settings)
          const next = step(state, rec, w.desiredReplicas, now, settings)
          let desired = w.desiredReplicas
          let status = next.status
          let newState = next.state
          if (next.scaleTo !== undefined && w.enforcement === "ENFORCE") {
            const to = next.scaleTo
            const result = yield* Effect.result(target.scale(w.unitId, w.function, to))
            if (result._tag === "Success") {
              desired = to
              newState = applied(next.state, now)
              yield* recordScale(w, to > w.desiredReplicas ? "out" : "in")
              yield* Effect.logInfo(
                `NFR: scaled ${w.function} of ${w.unitId} from ${w.desiredReplicas} to ${to}: ${rec.reason}`,
              )
            } else {
              // Keep the elapsed window: the next pass tries again instead of waiting anew.
              const direction = to > w.desiredReplicas ? "out" as const : "in" as const
              newState = { ...next.state, pending: { direction, replicas: to, since: state.pending?.since ?? now } }
              status = result.failure.message
              yield* Effect.logWarning(`NFR: ${result.failure.message}`)
            }
          } else if (next.scaleTo !== undefined) {
            status = `would scale to ${next.scaleTo} (observe mode)`
          }
          states.set(key(w), newState)
          yield* setRecommended(w, rec.replicas)
          const report: FunctionNfrReport = {
            function: w.function,
            observation,
            recommendedReplicas: rec.replicas,
            reason: `${rec.reason}; ${status}`,
            desiredReplicas: desired,
            scaled: desired !== w.desiredReplicas,
            capacityRps: rec.capacityRps,
          }
          return report
        })

      const unitReport = (first: NfrWorkload, reports: ReadonlyArray<FunctionNfrReport>): NfrUnitReport => {
        const noData = reports.every((r) => r.observation.rps === undefined && r.observation.p99Ms === undefined)
        const message = reports
          .map((r) =>
            `function ${r.function}: ${
              describeObservation(r.observation)
            }; recommend ${r.recommendedReplicas} replicas (${r.reason})`
          )
          .join(". ")
        const reason = noData
          ? "NoData"
          : reports.some((r) => r.scaled)
          ? "Scaled"
          : reports.every((r) => r.recommendedReplicas === r.desiredReplicas)
          ? "WithinTargets"
          : first.enforcement === "ENFORCE"
          ? "Scaling"
          : "Recommending"
        return {
          unitId: first.unitId,
          generation: first.generation,
          condition: condition(noData ? "Unknown" : "True", reason, message, first.generation),
          functions: reports,
        }
      }

      const analyze = Effect.gen(function*() {
        const workloads = yield* target.workloads
        if (config.fileSd !== undefined) {
          const written = yield* Effect.result(
            writeFileSd(config.fileSd, targetGroups(workloads, yield* target.odgmUrls)),
          )
          if (written._tag === "Failure") yield* Effect.logWarning(written.failure.message)
        }
        const active = workloads.filter((w) => w.enforcement !== "OFF")
        const off = workloads.filter((w) => w.enforcement === "OFF")
        let reports: Array<NfrUnitReport> = [
          ...unknownForAll(off, "Off", "NFR enforcement is off for this deployment", "False"),
        ]
        if (Option.isNone(prometheus)) {
          reports.push(
            ...unknownForAll(
              active,
              "PrometheusNotConfigured",
              "no Prometheus is configured (set nfr.prometheusUrl); nothing is measured or scaled",
            ),
          )
        } else if (active.length > 0) {
          const results = yield* Effect.result(runQueries(prometheus.value, config.rateWindowMs))
          if (results._tag === "Failure") {
            yield* Effect.logWarning(`NFR: ${results.failure.message}`)
            // Stability needs an unbroken run of observations: a gap restarts every window.
            for (const w of active) {
              const s = states.get(key(w))
              if (s) states.set(key(w), { ...s, pending: undefined })
            }
            reports.push(
              ...unknownForAll(
                active,
                "PrometheusUnavailable",
                `${results.failure.message}; replica counts are left as they are`,
              ),
            )
          } else {
            const now = yield* Clock.currentTimeMillis
            for (const [first, fns] of byUnit(active)) {
              const fnReports = yield* Effect.forEach(
                fns,
                (w) => analyzeWorkload(w, observationOf(results.success, w), now),
              )
              reports.push(unitReport(first, fnReports))
            }
          }
        }
        // Forget functions that are gone, so a redeployed one starts from the default again.
        const live = new Set(workloads.map(key))
        for (const k of states.keys()) if (!live.has(k)) states.delete(k)
        reports = reports.filter((r) => r.functions.length > 0)
        yield* Effect.forEach(reports, (r) => target.report(r), { discard: true })
        yield* recordNfrPass(reports)
        return reports
      }).pipe(Effect.withSpan("NfrController.analyze"))

      return NfrController.of({ analyze })
    }))

  /** Runs a pass every `nfr.intervalMs` in the background for the layer's lifetime. */
  static readonly layerLoop = (config: NfrConfig) =>
    Layer.effectDiscard(Effect.gen(function*() {
      const controller = yield* NfrController
      yield* controller.analyze.pipe(
        Effect.catchCause((cause) => Effect.logError("NFR analysis pass failed", cause)),
        Effect.repeat(Schedule.spaced(config.intervalMs)),
        Effect.forkScoped,
      )
    }))
}

const byUnit = (workloads: ReadonlyArray<NfrWorkload>): Array<[NfrWorkload, Array<NfrWorkload>]> => {
  const units = new Map<string, Array<NfrWorkload>>()
  for (const w of workloads) units.set(w.unitId, [...(units.get(w.unitId) ?? []), w])
  return [...units.values()].map((fns) => [fns[0]!, fns])
}
