import { Layer } from "effect"
import type { NfrConfig } from "./config"
import { NfrController } from "./NfrController"
import { Prometheus } from "./Prometheus"

/**
 * The NFR loop for the CRM: the controller with its background pass every `nfr.intervalMs`,
 * querying `nfr.prometheusUrl` when set (without it, every unit's NfrObserved says Unknown and
 * why). Needs an NfrTarget from the CRM core.
 */
export const Nfr = {
  layer: (config: NfrConfig) => {
    const controller = NfrController.layer(config)
    const withPrometheus = config.prometheusUrl === undefined
      ? controller
      : controller.pipe(Layer.provide(Prometheus.layer(config.prometheusUrl, config.queryTimeoutMs)))
    return NfrController.layerLoop(config).pipe(Layer.provideMerge(withPrometheus))
  },
}
