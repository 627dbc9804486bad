export * from "./errors"
export * from "./server/rpcService"
export * from "./server/rest"
export { type Authorizer, type CallRunner } from "./server/CallRunner"
export {
  serve,
  ServerAddress,
  serverLimits,
  type ServerOptions,
  type ServerRoutes,
  ServerStartError,
} from "./server/Server"
export * from "./client/CircuitBreaker"
export * from "./client/client"
export { Http1Error, Http1Pool, type Http1PoolOptions, type Http1Reply } from "./client/http1Pool"
/** A server layer in its own runtime, for embedding (`oprc dev`, the SDK's function server) and tests. */
export { startServer } from "./server/embedded"
export { inMemoryTransport } from "./server/inMemory"
export { serverOptions } from "./server/options"
/** The build's version, owned by @oprc/runtime; re-exported for servers that report it. */
export { VERSION } from "@oprc/runtime"
export { jsonTextDepthExceeded, scanJsonText } from "./server/jsonDepth"
export { normalizeConnectJson } from "./server/strictJson"
export * from "./auth"
