import { Effect, Schema } from "effect"
import { AuthConfig, NonEmptyString, section, serverConfig, TelemetryConfig } from "@oprc/config"
import { ObjectLimitsConfig } from "@oprc/models"

const withDefault = <S extends Schema.Top>(value: S["Encoded"]) => (schema: S) =>
  schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)))

const int = (expected: string, minimum: number, maximum: number) =>
  Schema.Number.check(Schema.isInt({ expected })).check(Schema.isBetween({ minimum, maximum }, { expected }))

const millis = (minimum = 1) => int(`an integer number of milliseconds >= ${minimum}`, minimum, 86_400_000)

const StorageKind = Schema.Literals(["sqlite", "memory", "nats"])

export const StorageConfig = Schema.Struct({
  kind: StorageKind.annotate({ description: "object store engine: sqlite (embedded), memory, nats (JetStream KV)" })
    .pipe(withDefault("sqlite")),
  sqlite: section(Schema.Struct({
    path: NonEmptyString.annotate({ description: "SQLite database file" }).pipe(withDefault("oprc-data/odgm.sqlite")),
  })),
  nats: section(Schema.Struct({
    servers: Schema.Array(NonEmptyString)
      .annotate({ description: "NATS server URLs (comma-separated)" })
      .pipe(withDefault(["nats://127.0.0.1:4222"])),
    replicas: Schema.Literals([1, 3]).annotate({
      description: "JetStream replicas per bucket and stream: 1, or 3 in production",
    }).pipe(withDefault(1)),
  })),
})
export type StorageConfig = typeof StorageConfig.Type

const InvocationConfig = Schema.Struct({
  timeoutMs: millis().annotate({
    description: "default deadline of an invocation (lock wait, function call and commit)",
  }).pipe(withDefault(30_000)),
  maxConflictRetries: int("an integer from 0 to 1000", 0, 1000)
    .annotate({
      description: "re-runs of an invocation whose commit lost to another node before answering ABORTED (409)",
    })
    .pipe(withDefault(64)),
  resultTtlMs: millis().annotate({ description: "how long async invocation results are kept for GetResult" }).pipe(
    withDefault(3_600_000),
  ),
  breakerResetMinMs: millis().annotate({
    description: "first trial call to a failing function this long after its circuit opened (doubles per failed trial)",
  }).pipe(withDefault(50)),
  breakerResetMs: millis().annotate({ description: "longest wait between trial calls to a function that stays down" })
    .pipe(withDefault(1000)),
})

export const TriggerConfig = Schema.Struct({
  maxAttempts: int("an integer from 1 to 1000", 1, 1000).annotate({
    description: "delivery attempts before an event is dead-lettered",
  }).pipe(withDefault(8)),
  backoffBaseMs: millis().annotate({ description: "first retry delay (doubles per attempt, jittered)" }).pipe(
    withDefault(200),
  ),
  backoffMaxMs: millis().annotate({ description: "largest retry delay" }).pipe(withDefault(30_000)),
  pollIntervalMs: millis().annotate({ description: "how often the outbox is polled when idle" }).pipe(withDefault(200)),
  batchSize: int("an integer from 1 to 1000", 1, 1000).annotate({ description: "events claimed per poll" }).pipe(
    withDefault(64),
  ),
  concurrency: int("an integer from 1 to 1000", 1, 1000).annotate({ description: "deliveries in flight" }).pipe(
    withDefault(16),
  ),
  leaseMarginMs: millis().annotate({ description: "lease on a claimed event beyond its own deadline" }).pipe(
    withDefault(5000),
  ),
  leaseMs: millis(100).annotate({
    description:
      "longest lease on a claimed event, renewed while its delivery runs: an event stranded by a dead node is claimed again within this",
  }).pipe(withDefault(5000)),
})
export type TriggerConfig = typeof TriggerConfig.Type

/** oprc-odgm configuration: file (--config), OPRC_* environment, flags. */
export const OdgmConfig = Schema.Struct({
  server: section(serverConfig(8081)),
  auth: section(AuthConfig),
  telemetry: section(TelemetryConfig),
  storage: section(StorageConfig),
  collections: section(Schema.Struct({
    file: Schema.optionalKey(
      NonEmptyString.annotate({ description: "YAML/JSON file of collections applied at start (standalone use)" }),
    ),
    refreshMs: millis().annotate({
      description: "how often collections are re-read from storage (other nodes' changes)",
    }).pipe(withDefault(2000)),
  })),
  invocation: section(InvocationConfig),
  triggers: section(TriggerConfig),
  /** Entry depth, entries per object, key length, triggers and functions per collection (docs/api.md). */
  limits: section(ObjectLimitsConfig),
  internalToken: Schema.optionalKey(
    Schema.RedactedFromValue(NonEmptyString).annotate({
      description:
        "internal secret: functions present it (x-oprc-internal-token) for INTERNAL access; PRIVATE needs the class credential derived from it (oprc-caller-token: <class>:HMAC-SHA256(secret, class:<class>))",
    }),
  ),
})
export type OdgmConfig = typeof OdgmConfig.Type

export const odgmFlags = {
  "--port": "server.port",
  "--host": "server.host",
  "--storage": "storage.kind",
  "--sqlite": "storage.sqlite.path",
  "--nats": "storage.nats.servers",
  "--nats-replicas": "storage.nats.replicas",
  "--collections": "collections.file",
} as const
