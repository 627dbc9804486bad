import { Metric } from "effect"

/**
 * Counters for the etcd backend's fault handling (exported on /metrics by the PM). Kept apart from
 * EtcdBackend.ts so that importing the package does not load etcd3 (see ControlPlaneStore.layerEtcd).
 */
export const etcdMetrics = {
  retries: Metric.counter("oprc_cp_storage_etcd_retries_total", {
    description: "etcd calls retried after a transient failure (leader election, dead member, deadline)",
    incremental: true,
  }),
  recoveredWrites: Metric.counter("oprc_cp_storage_etcd_recovered_writes_total", {
    description: "retried writes that found their own earlier attempt applied (answered as success, not re-applied)",
    incremental: true,
  }),
}
