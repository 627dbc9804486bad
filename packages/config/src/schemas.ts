import { Effect, Redacted, Schema } from "effect"

// Every check carries the same `expected` text (the loader also uses the last one for a wrong
// type), so "abc", 1.5 and 70000 all get one message that states the whole rule.
const integer = (expected: string, range: { readonly minimum?: number; readonly maximum?: number }) => {
  const base = Schema.Number.check(Schema.isInt({ expected }))
  return range.maximum === undefined
    ? base.check(Schema.isGreaterThanOrEqualTo(range.minimum ?? 0, { expected }))
    : base.check(Schema.isBetween({ minimum: range.minimum ?? 0, maximum: range.maximum }, { expected }))
}

const withDefault = <S extends Schema.Top>(value: S["Encoded"]) => (schema: S) =>
  schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)))

/**
 * Gives a config section the default `{}`, so a file without that section still decodes and
 * every key inside it gets its own default. The parameter type rejects sections that have a
 * key without a default, for which `{}` would not be a valid encoded value.
 */
export const section = <S extends Schema.Top>(
  schema: S & ({} extends S["Encoded"] ? unknown : "section(): every key of the section needs a default"),
) => schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed<S["Encoded"]>({} as S["Encoded"])))

export const NonEmptyString = Schema.String.check(
  Schema.isMinLength(1, { expected: "a non-empty string" }),
)

export const Port = integer("an integer between 1 and 65535", { minimum: 1, maximum: 65535 })

const isHttpUrl = (s: string): boolean => {
  if (!URL.canParse(s)) return false
  const protocol = new URL(s).protocol
  return protocol === "http:" || protocol === "https:"
}
export const HttpUrl = Schema.String.check(
  Schema.makeFilter(isHttpUrl, { expected: "an http(s) URL" }),
)

export const TlsConfig = Schema.Struct({
  certFile: NonEmptyString.annotate({ description: "PEM certificate chain file" }),
  keyFile: NonEmptyString.annotate({ description: "PEM private key file" }),
  caFile: Schema.optionalKey(
    NonEmptyString.annotate({ description: "PEM CA bundle used to verify client certificates" }),
  ),
  requireClientCert: Schema.Boolean.annotate({ description: "require a client certificate (mTLS)" }).pipe(
    withDefault(false),
  ),
}).check(
  // Without a CA bundle Node falls back to the public roots, which is never what mTLS between
  // our own components wants: reject it instead of silently trusting any public certificate.
  Schema.makeFilter((tls) =>
    tls.requireClientCert && tls.caFile === undefined
      ? { path: ["caFile"], issue: "required when requireClientCert is true" }
      : undefined
  ),
)
export type TlsConfig = typeof TlsConfig.Type

const serverFields = <P extends Schema.Top>(port: P) => ({
  host: NonEmptyString.annotate({ description: "interface to listen on" }).pipe(withDefault("0.0.0.0")),
  port,
  tls: Schema.optionalKey(TlsConfig.annotate({ description: "serve TLS when set" })),
  bodyLimitBytes: integer("a positive integer (bytes)", { minimum: 1 })
    .annotate({ description: "largest accepted request body" })
    .pipe(withDefault(4 * 1024 * 1024)),
  maxJsonDepth: integer("an integer from 1 to 1000", { minimum: 1, maximum: 1000 })
    .annotate({ description: "deepest nesting accepted in a JSON request body (REST and Connect JSON)" })
    .pipe(withDefault(32)),
  maxJsonValues: integer("a positive integer", { minimum: 1 })
    .annotate({ description: "most values (array items, object members) accepted in a JSON request body" })
    .pipe(withDefault(1_000_000)),
  headersTimeoutMs: integer("a positive integer (milliseconds)", { minimum: 1 })
    .annotate({ description: "time a new connection has to send its first request headers" })
    .pipe(withDefault(10_000)),
  bodyTimeoutMs: integer("a positive integer (milliseconds)", { minimum: 1 })
    .annotate({ description: "time a request has to send its whole body (408 after it)" })
    .pipe(withDefault(30_000)),
  idleTimeoutMs: integer("a positive integer (milliseconds)", { minimum: 1 })
    .annotate({ description: "an idle keep-alive connection is closed after this long" })
    .pipe(withDefault(15_000)),
  maxConnections: integer("a positive integer", { minimum: 1 })
    .annotate({ description: "open connections accepted at once; more are refused with 503" })
    .pipe(withDefault(1024)),
  bodyBudgetBytes: integer("a positive integer (bytes)", { minimum: 1 })
    .annotate({ description: "memory all request bodies being read may hold together; beyond it 503" })
    .pipe(withDefault(64 * 1024 * 1024)),
  // 1.5 s leaves headroom under the 2 s a binary has to exit after SIGTERM.
  shutdownGraceMs: integer("a non-negative integer (milliseconds)", {})
    .annotate({ description: "time given to in-flight requests on shutdown" })
    .pipe(withDefault(1500)),
})

/** The server section with `port` required; services use {@link serverConfig} to give their own default port. */
export const ServerConfig = Schema.Struct(serverFields(Port.annotate({ description: "listen port" })))
export type ServerConfig = typeof ServerConfig.Type

/** The server section with a service-specific default port (PM 8080, ODGM 8081, CRM 8088). */
export const serverConfig = (defaultPort: number) =>
  Schema.Struct(serverFields(Port.annotate({ description: "listen port" }).pipe(withDefault(defaultPort))))

export const Role = Schema.Literals(["admin", "deployer", "reader"])
export type Role = typeof Role.Type

export const AuthToken = Schema.Struct({
  name: NonEmptyString.annotate({ description: "who holds the token (shown in logs)" }),
  token: Schema.RedactedFromValue(NonEmptyString),
  role: Role,
})
export type AuthToken = typeof AuthToken.Type

// Duplicates are reported by index only: printing the token would leak it.
const uniqueTokens = Schema.makeFilter((tokens: ReadonlyArray<AuthToken>) => {
  const issues: Array<Schema.FilterIssue> = []
  const names = new Map<string, number>()
  const values = new Map<string, number>()
  tokens.forEach((t, i) => {
    const sameName = names.get(t.name)
    if (sameName !== undefined) {
      issues.push({ path: [i, "name"], issue: `duplicate name (also used by entry ${sameName})` })
    } else names.set(t.name, i)
    const secret = Redacted.value(t.token)
    const sameValue = values.get(secret)
    if (sameValue !== undefined) {
      issues.push({ path: [i, "token"], issue: `duplicate token (same value as entry ${sameValue})` })
    } else values.set(secret, i)
  })
  return issues
})

/** Bearer tokens with roles; authentication is enabled iff at least one token is configured. */
export const AuthConfig = Schema.Struct({
  tokens: Schema.Array(AuthToken)
    .check(uniqueTokens)
    .annotate({ description: "bearer tokens: [{name, token, role}], role admin|deployer|reader" })
    .pipe(withDefault([])),
})
export type AuthConfig = typeof AuthConfig.Type

export const authEnabled = (auth: AuthConfig): boolean => auth.tokens.length > 0

export const LogLevel = Schema.Literals(["trace", "debug", "info", "warn", "error"])
export type LogLevel = typeof LogLevel.Type
export const LogFormat = Schema.Literals(["json", "pretty"])
export type LogFormat = typeof LogFormat.Type

const SamplingRatio = Schema.Number.check(
  Schema.isBetween({ minimum: 0, maximum: 1 }, { expected: "a number between 0 and 1" }),
)

export const TelemetryConfig = Schema.Struct({
  log: section(Schema.Struct({
    level: LogLevel.annotate({ description: "minimum log level" }).pipe(withDefault("info")),
    format: LogFormat.annotate({ description: "log line format" }).pipe(withDefault("json")),
  })),
  otlp: section(Schema.Struct({
    endpoint: Schema.optionalKey(
      HttpUrl.annotate({ description: "OTLP/HTTP collector URL; tracing is off when unset" }),
    ),
    samplingRatio: SamplingRatio.annotate({ description: "fraction of traces sampled" }).pipe(withDefault(1)),
    serviceName: Schema.optionalKey(NonEmptyString.annotate({ description: "service.name resource attribute" })),
  })),
})
export type TelemetryConfig = typeof TelemetryConfig.Type
