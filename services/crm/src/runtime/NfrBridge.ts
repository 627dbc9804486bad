import { Effect, Layer } from "effect"
import { NfrTarget, ScaleFailed, unitWorkloads } from "../nfr"
import { Driver, NfrReports } from "../driver/Driver"
import { Runtime } from "./Runtime"

/**
 * The NFR loop's view of the CRM (NfrTarget): workloads from the held units and the driver's
 * replicas, scaling through Driver.scale, reports into the unit's NfrObserved condition.
 */
export const NfrBridge = (odgmUrl: string) =>
  Layer.effect(NfrTarget)(Effect.gen(function*() {
    const driver = yield* Driver
    const reports = yield* NfrReports
    const runtime = yield* Runtime
    return NfrTarget.of({
      workloads: Effect.gen(function*() {
        const units = yield* reports.units
        const replicas = yield* driver.replicas()
        return yield* Effect.forEach(units, (unit) =>
          Effect.gen(function*() {
            const status = yield* Effect.option(runtime.get(unit.id))
            const desiredOf = (fn: string) =>
              status._tag === "Some"
                ? status.value.status.functions.find((f) => f.function === fn)?.desiredReplicas ?? 0
                : 0
            return unitWorkloads(unit, (fn) => ({
              desired: desiredOf(fn),
              replicas: replicas
                .filter((r) => r.unitId === unit.id && r.function === fn)
                .map((r) => ({ id: `${r.unitId}/${r.function}/${r.index}`, url: r.url, ready: r.ready })),
            }))
          })).pipe(Effect.map((all) => all.flat()))
      }),
      odgmUrls: Effect.succeed([odgmUrl]),
      scale: (unitId, fn, replicas) =>
        driver.scale(unitId, fn, replicas).pipe(
          Effect.asVoid,
          Effect.mapError((e) => new ScaleFailed({ unitId, function: fn, replicas, reason: e.message })),
        ),
      report: (r) => {
        // The proto carries one recommendation per unit: the function furthest from its current count.
        const first = [...r.functions].sort((a, b) =>
          Math.abs(b.recommendedReplicas - b.desiredReplicas) - Math.abs(a.recommendedReplicas - a.desiredReplicas)
        )[0]
        return reports.report(r.unitId, {
          status: r.condition.status,
          reason: r.condition.reason,
          message: r.condition.message,
          recommendation: first === undefined ? undefined : {
            replicas: first.recommendedReplicas,
            reason: `${first.function}: ${first.reason}`,
            observedRps: first.observation.rps ?? 0,
            observedP99Ms: first.observation.p99Ms ?? 0,
          },
        })
      },
    })
  }))
