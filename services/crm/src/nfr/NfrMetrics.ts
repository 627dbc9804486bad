import { Effect, Metric } from "effect"
import { labelled } from "@oprc/observability"
import type { NfrUnitReport, NfrWorkload } from "./NfrTarget"

const passes = Metric.counter("oprc_crm_nfr_observations_total", {
  description:
    "NFR analyses of a deployment unit, by NfrObserved reason (WithinTargets, Scaled, PrometheusUnavailable, ...)",
  incremental: true,
})
const scales = Metric.counter("oprc_crm_nfr_scale_actions_total", {
  description: "Replica count changes made by the NFR enforcer, by direction (out, in)",
  incremental: true,
})
const recommended = Metric.gauge("oprc_crm_nfr_recommended_replicas", {
  description: "Replica count the NFR analyzer recommends, by unit and function",
})

const passesBy = labelled(passes, ["reason"])
const scalesBy = labelled(scales, ["direction"])
const recommendedBy = labelled(recommended, ["unit", "function"])

export const recordNfrPass = (reports: ReadonlyArray<NfrUnitReport>) =>
  Effect.forEach(reports, (r) => Metric.update(passesBy({ reason: r.condition.reason }), 1), { discard: true })

export const recordScale = (_w: NfrWorkload, direction: "out" | "in") => Metric.update(scalesBy({ direction }), 1)

export const setRecommended = (w: NfrWorkload, replicas: number) =>
  Metric.update(recommendedBy({ unit: w.unitId, function: w.function }), replicas)
