import { Effect, Schema } from "effect"
import { AuthConfig, HttpUrl, NonEmptyString, section, serverConfig, TelemetryConfig } from "@oprc/config"
import { PackageLimitsConfig } from "@oprc/models"

const withDefault = <S extends Schema.Top>(value: S["Encoded"]) => (schema: S) =>
  schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)))

const positiveInt = (expected: string) =>
  Schema.Number.check(Schema.isInt({ expected })).check(Schema.isGreaterThanOrEqualTo(1, { expected }))

const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/

export const StorageConfig = Schema.Struct({
  kind: Schema.Literals(["sqlite", "etcd", "memory"])
    .annotate({ description: "control-plane storage: sqlite (embedded), etcd (HA) or memory (tests)" })
    .pipe(withDefault("sqlite")),
  sqlite: section(Schema.Struct({
    path: NonEmptyString.annotate({ description: "SQLite file, relative to the working directory" })
      .pipe(withDefault("oprc-data/pm.sqlite")),
  })),
  etcd: section(Schema.Struct({
    endpoints: Schema.Array(HttpUrl).annotate({ description: "etcd client URLs (comma-separated)" })
      .pipe(withDefault(["http://127.0.0.1:2379"])),
    prefix: NonEmptyString.annotate({ description: "key prefix of every PM key in etcd" }).pipe(
      withDefault("/oprc/pm"),
    ),
  })),
})
export type StorageConfig = typeof StorageConfig.Type

const ClusterTls = Schema.Struct({
  caFile: Schema.optionalKey(
    NonEmptyString.annotate({ description: "PEM CA bundle that signed the CRM's certificate" }),
  ),
  certFile: Schema.optionalKey(NonEmptyString.annotate({ description: "PEM client certificate (mTLS)" })),
  keyFile: Schema.optionalKey(NonEmptyString.annotate({ description: "PEM client key (mTLS)" })),
})

export const ClusterConfig = Schema.Struct({
  name: Schema.String.check(Schema.makeFilter((s: string) => dnsLabel.test(s), { expected: "a DNS-1123 label" })),
  url: HttpUrl,
  tls: Schema.optionalKey(ClusterTls),
  token: Schema.optionalKey(Schema.RedactedFromValue(NonEmptyString)),
})
export type ClusterConfig = typeof ClusterConfig.Type

const uniqueNames = Schema.makeFilter((clusters: ReadonlyArray<ClusterConfig>) =>
  clusters.flatMap((c, i) => {
    const first = clusters.findIndex((x) => x.name === c.name)
    return first < i ? [{ path: [i, "name"], issue: `duplicate cluster name (also entry ${first})` }] : []
  })
)

export const OrchestrationConfig = Schema.Struct({
  resyncMs: positiveInt("a positive integer (milliseconds)")
    .annotate({ description: "every deployment is reconciled at least this often" }).pipe(withDefault(5000)),
  healthIntervalMs: positiveInt("a positive integer (milliseconds)")
    .annotate({ description: "how often each cluster's health is polled" }).pipe(withDefault(2000)),
  crmTimeoutMs: positiveInt("a positive integer (milliseconds)")
    .annotate({ description: "deadline of one call to a CRM" }).pipe(withDefault(3000)),
  breakerFailures: positiveInt("a positive integer")
    .annotate({ description: "consecutive CRM failures that open a cluster's circuit breaker" }).pipe(withDefault(3)),
  breakerResetMs: positiveInt("a positive integer (milliseconds)")
    .annotate({ description: "how long an open breaker waits before a trial call" }).pipe(withDefault(5000)),
  workers: positiveInt("a positive integer")
    .annotate({ description: "deployments reconciled in parallel" }).pipe(withDefault(8)),
  dispatchWaitMs: Schema.Number.check(Schema.isInt({ expected: "a non-negative integer (milliseconds)" }))
    .annotate({ description: "how long a create/update waits for the first dispatch before answering" })
    .pipe(withDefault(1000)),
})
export type OrchestrationConfig = typeof OrchestrationConfig.Type

/** oprc-pm configuration: file (--config), OPRC_* environment, flags. */
export const PmConfig = Schema.Struct({
  server: section(serverConfig(8080)),
  auth: section(AuthConfig),
  telemetry: section(TelemetryConfig),
  storage: section(StorageConfig),
  clusters: Schema.Array(ClusterConfig).check(uniqueNames)
    .annotate({ description: "CRMs: [{name, url, tls?: {caFile, certFile, keyFile}, token?}]" })
    .pipe(withDefault([])),
  orchestration: section(OrchestrationConfig),
  /** Counts, depth, lengths and value budgets of package documents, checked before decoding (docs/pm.md). */
  limits: section(PackageLimitsConfig),
})
export type PmConfig = typeof PmConfig.Type

export const pmFlags = {
  "--port": "server.port",
  "--host": "server.host",
  "--storage": "storage.kind",
  "--etcd-endpoints": "storage.etcd.endpoints",
  "--etcd-prefix": "storage.etcd.prefix",
  "--sqlite-path": "storage.sqlite.path",
} as const
