import type { ServerConfig } from "@oprc/config"
import { VERSION } from "@oprc/runtime"
import type { ServerOptions } from "./Server"

/** Server options for serve() from the shared config section. */
export const serverOptions = (name: string, server: ServerConfig): ServerOptions => ({
  name,
  version: VERSION,
  host: server.host,
  port: server.port,
  tls: server.tls,
  bodyLimitBytes: server.bodyLimitBytes,
  shutdownGraceMs: server.shutdownGraceMs,
  maxJsonDepth: server.maxJsonDepth,
  maxJsonValues: server.maxJsonValues,
  headersTimeoutMs: server.headersTimeoutMs,
  bodyTimeoutMs: server.bodyTimeoutMs,
  idleTimeoutMs: server.idleTimeoutMs,
  maxConnections: server.maxConnections,
  bodyBudgetBytes: server.bodyBudgetBytes,
})
