export * from "./DocumentStore.ts"
export * from "./collections.ts"
export { etcdMetrics } from "./EtcdBackend.ts"
