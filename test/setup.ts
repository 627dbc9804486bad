// Preloaded by bunfig.toml for every `bun test` run: tests start real servers (etcd, NATS,
// Prometheus, function processes), so Bun's 5 s default per test is too short.
import { setDefaultTimeout } from "bun:test"

setDefaultTimeout(60_000)
