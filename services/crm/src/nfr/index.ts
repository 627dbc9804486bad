export { defaultNfrConfig, NfrConfig } from "./config"
export {
  currentTargetGroups,
  FileSdError,
  SD_PATH,
  sdLabels,
  sdRoute,
  type TargetGroup,
  targetGroups,
  writeFileSd,
} from "./discovery"
export * from "./model"
export { describeObservation, NfrController } from "./NfrController"
export * from "./NfrTarget"
export {
  Prometheus,
  type PrometheusError,
  PrometheusQueryError,
  PrometheusUnavailable,
  type Sample,
} from "./Prometheus"
export { type Observation, observationOf, promql, runQueries, type WorkloadKey } from "./queries"
export { Nfr } from "./Nfr"
