export * from "./DocumentStore.ts"
export * from "./collections.ts"
export { etcdMetrics } from "./etcd/metrics.ts"
export { configuredStore, type StorageChoice } from "./configured.ts"
