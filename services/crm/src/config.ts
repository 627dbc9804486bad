import { Effect, Schema } from "effect"
import { AuthConfig, HttpUrl, NonEmptyString, section, serverConfig, TelemetryConfig } from "@oprc/config"
import { NfrConfig } from "./nfr/config"

const withDefault = <S extends Schema.Top>(value: S["Encoded"]) => (schema: S) =>
  schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)))

const int = (expected: string, minimum: number, maximum: number) =>
  Schema.Number.check(Schema.isInt({ expected })).check(Schema.isBetween({ minimum, maximum }, { expected }))
const millis = (minimum = 1) => int(`an integer number of milliseconds >= ${minimum}`, minimum, 86_400_000)

const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/

export const CrmStorageConfig = Schema.Struct({
  kind: Schema.Literals(["sqlite", "etcd", "memory"])
    .annotate({
      description: "where desired units and replica records are kept: sqlite (embedded), etcd, memory (tests)",
    })
    .pipe(withDefault("sqlite")),
  sqlite: section(Schema.Struct({
    path: NonEmptyString.annotate({ description: "SQLite file, relative to the working directory" }).pipe(
      withDefault("oprc-data/crm.sqlite"),
    ),
  })),
  etcd: section(Schema.Struct({
    endpoints: Schema.Array(HttpUrl).annotate({ description: "etcd client URLs (comma-separated)" }).pipe(
      withDefault(["http://127.0.0.1:2379"]),
    ),
    prefix: NonEmptyString.annotate({ description: "key prefix of every CRM key in etcd" }).pipe(
      withDefault("/oprc/crm"),
    ),
  })),
})
export type CrmStorageConfig = typeof CrmStorageConfig.Type

export const ProcessDriverConfig = Schema.Struct({
  workDir: NonEmptyString.annotate({
    description: "directory function commands run in (provision.workingDir is relative to it)",
  }).pipe(withDefault(".")),
  logDir: NonEmptyString.annotate({ description: "where each replica's stdout/stderr log files are written" }).pipe(
    withDefault("oprc-data/crm-logs"),
  ),
  logMaxBytes: int("an integer from 1024 to 1073741824 (bytes)", 1024, 1_073_741_824)
    .annotate({ description: "a replica's log file is rotated when it grows past this size" }).pipe(
      withDefault(10 * 1024 * 1024),
    ),
  logFiles: int("an integer from 1 to 100", 1, 100).annotate({ description: "rotated log files kept per stream" }).pipe(
    withDefault(3),
  ),
  host: NonEmptyString.annotate({ description: "address functions listen on and are registered with (HOST env)" }).pipe(
    withDefault("127.0.0.1"),
  ),
  startTimeoutMs: millis().annotate({ description: "time a replica has to answer /readyz after it started" }).pipe(
    withDefault(30_000),
  ),
  stopGraceMs: millis().annotate({ description: "time between SIGTERM and SIGKILL when a replica is stopped" }).pipe(
    withDefault(3000),
  ),
  drainDelayMs: int("an integer from 0 to 60000 (milliseconds)", 0, 60_000)
    .annotate({
      description: "time between removing a replica's ODGM route and its SIGTERM, for calls already on their way",
    })
    .pipe(withDefault(250)),
  restartBaseMs: millis().annotate({ description: "first restart delay of a crashed replica (doubles per crash)" })
    .pipe(withDefault(200)),
  restartMaxMs: millis().annotate({ description: "largest restart delay" }).pipe(withDefault(30_000)),
  crashLoopCount: int("an integer from 2 to 100", 2, 100)
    .annotate({ description: "exits within crashLoopWindowMs that make a function Degraded (crash loop)" }).pipe(
      withDefault(3),
    ),
  crashLoopWindowMs: millis().annotate({ description: "window of the crash-loop rule" }).pipe(withDefault(10_000)),
  healthIntervalMs: millis(100).annotate({ description: "how often a ready replica's /readyz is checked" }).pipe(
    withDefault(30_000),
  ),
  healthFailures: int("an integer from 1 to 100", 1, 100)
    .annotate({
      description: "failed health checks in a row that take a replica out of the ODGM route (until it answers again)",
    })
    .pipe(withDefault(3)),
  livenessMs: millis(100).annotate({
    description: "how often adopted processes (started by an earlier CRM) are checked for life",
  }).pipe(withDefault(1000)),
  stopOnExit: Schema.Boolean.annotate({
    description: "stop every function process when the CRM stops (otherwise a restarted CRM adopts them)",
  })
    .pipe(withDefault(false)),
  inheritEnv: Schema.Array(NonEmptyString)
    .annotate({ description: "environment variables of the CRM passed on to function processes" })
    .pipe(withDefault(["PATH", "HOME", "TMPDIR", "LANG", "TZ"])),
})
export type ProcessDriverConfig = typeof ProcessDriverConfig.Type

const KubernetesDriverConfig = Schema.Struct({
  kubeconfig: Schema.optionalKey(
    NonEmptyString.annotate({
      description:
        "kubeconfig file; absent = in-cluster (service account token and CA under /var/run/secrets/kubernetes.io/serviceaccount)",
    }),
  ),
  namespace: NonEmptyString.annotate({
    description: "namespace of the DeploymentRecords, their workloads and the Lease",
  }).pipe(withDefault("default")),
  environment: NonEmptyString.annotate({ description: "EnvironmentConfig used when a record names none" }).pipe(
    withDefault("default"),
  ),
  leaseName: NonEmptyString.annotate({
    description: "coordination.k8s.io/v1 Lease of the leader election (one per CRM group)",
  }).pipe(withDefault("oprc-crm")),
  leaseDurationMs: millis(300).annotate({
    description: "a leader that has not renewed for this long is replaced; it renews every third of it",
  }).pipe(withDefault(15_000)),
  identity: Schema.optionalKey(
    NonEmptyString.annotate({ description: "this replica's holder identity in the Lease (default: hostname-pid)" }),
  ),
  serviceAccountRoot: Schema.String.annotate({
    description:
      "in-cluster only: prefix of /var/run/secrets/kubernetes.io/serviceaccount (token, ca.crt), e.g. for a copy mounted elsewhere",
  })
    .pipe(withDefault("")),
})

/** oprc-crm configuration: file (--config), OPRC_* environment, flags. */
export const CrmConfig = Schema.Struct({
  server: section(serverConfig(8088)),
  auth: section(AuthConfig),
  telemetry: section(TelemetryConfig),
  cluster: Schema.String.check(Schema.makeFilter((s: string) => dnsLabel.test(s), { expected: "a DNS-1123 label" }))
    .annotate({ description: "the cluster name this CRM manages (units for another cluster are rejected)" })
    .pipe(withDefault("local")),
  storage: section(CrmStorageConfig),
  odgm: section(Schema.Struct({
    url: HttpUrl.annotate({ description: "ODGM base URL: collections are applied there, functions get it as ODGM_URL" })
      .pipe(withDefault("http://127.0.0.1:8081")),
    internalToken: Schema.optionalKey(
      Schema.RedactedFromValue(NonEmptyString).annotate({
        description: "ODGM's internal token, given to functions as OPRC_INTERNAL_TOKEN",
      }),
    ),
    token: Schema.optionalKey(
      Schema.RedactedFromValue(NonEmptyString).annotate({
        description: "bearer token (deployer or admin) for ODGM's CollectionService when ODGM has auth on",
      }),
    ),
    timeoutMs: millis().annotate({ description: "deadline of one call to ODGM" }).pipe(withDefault(3000)),
  })),
  driver: section(Schema.Struct({
    kind: Schema.Literals(["process", "kubernetes"]).annotate({
      description:
        "runtime driver: process (local processes) or kubernetes (DeploymentRecords reconciled into workloads)",
    }).pipe(withDefault("process")),
    process: section(ProcessDriverConfig),
    kubernetes: section(KubernetesDriverConfig),
  })),
  nfr: section(NfrConfig),
  reconcile: section(Schema.Struct({
    workers: int("an integer from 1 to 256", 1, 256).annotate({ description: "units reconciled in parallel" }).pipe(
      withDefault(8),
    ),
    resyncMs: millis(100).annotate({ description: "every unit is reconciled at least this often" }).pipe(
      withDefault(30_000),
    ),
  })),
})
export type CrmConfig = typeof CrmConfig.Type

export const crmFlags = {
  "--port": "server.port",
  "--host": "server.host",
  "--cluster": "cluster",
  "--odgm-url": "odgm.url",
  "--storage": "storage.kind",
  "--sqlite-path": "storage.sqlite.path",
  "--prometheus-url": "nfr.prometheusUrl",
  "--driver": "driver.kind",
  "--kubeconfig": "driver.kubernetes.kubeconfig",
  "--namespace": "driver.kubernetes.namespace",
} as const

/** The part of the CRM's own environment function processes inherit (the only env read outside the loader). */
export const inheritedEnv = (names: ReadonlyArray<string>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const n of names) {
    const v = process.env[n]
    if (v !== undefined) out[n] = v
  }
  return out
}
