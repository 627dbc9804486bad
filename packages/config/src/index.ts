export { type Assignment, type FlagMap, parseArgs, type ParsedArgs } from "./args.ts"
export { ConfigIssue, ConfigLoadError, ConfigSource, formatIssue, formatSource } from "./errors.ts"
export { type ConfigFile, loadConfigFile, parseConfigText, type Position, type ReadFile } from "./file.ts"
export { helpText } from "./help.ts"
export { loadConfig, type LoadOptions } from "./load.ts"
export {
  AuthConfig,
  authEnabled,
  AuthToken,
  HttpUrl,
  LogFormat,
  LogLevel,
  NonEmptyString,
  Port,
  Role,
  section,
  ServerConfig,
  serverConfig,
  TelemetryConfig,
  TlsConfig,
} from "./schemas.ts"
export { type ConfigSpec, describeSchema, envName, type Leaf } from "./spec.ts"
