// @oprc/test-harness: real servers (etcd, Prometheus, NATS) and an OTLP receiver for bun tests.
export * from "./ports.ts"
export * from "./system.ts"
export * from "./process.ts"
export * from "./etcd.ts"
export * from "./prometheus.ts"
export * from "./nats.ts"
export * from "./otlp.ts"
