import { Effect, Metric } from "effect"
import { labelled, latencyBuckets } from "@oprc/observability"

/** Reconcile metrics in the style of kube-rs' controller-rs, labelled by controller name. */

const runs = Metric.counter("oprc_reconcile_runs_total", {
  description: "reconcile passes, by controller and outcome (done, requeue, retry, error)",
  incremental: true,
})
const failures = Metric.counter("oprc_reconcile_failures_total", {
  description: "reconcile passes that failed, by controller and error tag",
  incremental: true,
})
const duration = Metric.histogram("oprc_reconcile_duration_seconds", {
  description: "time of one reconcile pass, by controller",
  boundaries: latencyBuckets,
})

const runsBy = labelled(runs, ["controller", "outcome"])
const failuresBy = labelled(failures, ["controller", "error"])
const durationBy = labelled(duration, ["controller"])

export const recordRun = (controller: string, outcome: string, seconds: number) =>
  Effect.all([Metric.update(runsBy({ controller, outcome }), 1), Metric.update(durationBy({ controller }), seconds)], {
    discard: true,
  })

export const recordFailure = (controller: string, error: string) => Metric.update(failuresBy({ controller, error }), 1)
