export * from "./DocumentStore.ts"
export * from "./collections.ts"
export { etcdMetrics } from "./EtcdBackend.ts"
export { configuredStore, type StorageChoice } from "./configured.ts"
