import { Effect, Metric } from "effect"
import { labelled } from "@oprc/observability"

/** The CRM's own metrics, next to the reconcile metrics of @oprc/reconcile and the RPC histograms. */

const restarts = Metric.counter("oprc_crm_replica_restarts_total", {
  description: "function replicas that exited unexpectedly (and are restarted), by unit and function",
  incremental: true,
})
const desired = Metric.gauge("oprc_crm_replicas_desired", { description: "replicas wanted, by unit and function" })
const ready = Metric.gauge("oprc_crm_replicas_ready", {
  description: "replicas answering /readyz and registered with ODGM, by unit and function",
})
const units = Metric.gauge("oprc_crm_units", { description: "deployment units held, by phase" })

const restartsBy = labelled(restarts, ["unit_id", "function"])
const desiredBy = labelled(desired, ["unit_id", "function"])
const readyBy = labelled(ready, ["unit_id", "function"])
const unitsBy = labelled(units, ["phase"])

export const recordRestart = (unit: string, fn: string) => Metric.update(restartsBy({ unit_id: unit, function: fn }), 1)

export const recordReplicas = (unit: string, fn: string, want: number, have: number) =>
  Effect.all([
    Metric.update(desiredBy({ unit_id: unit, function: fn }), want),
    Metric.update(readyBy({ unit_id: unit, function: fn }), have),
  ], { discard: true })

export const recordUnits = (counts: ReadonlyMap<string, number>, phases: ReadonlyArray<string>) =>
  Effect.forEach(phases, (p) => Metric.update(unitsBy({ phase: p }), counts.get(p) ?? 0), { discard: true })
