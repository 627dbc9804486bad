import { Effect, Schema } from "effect"
import { HttpUrl, NonEmptyString } from "@oprc/config"

const withDefault = <S extends Schema.Top>(value: S["Encoded"]) => (schema: S) =>
  schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)))

const int = (expected: string, minimum: number, maximum: number) =>
  Schema.Number.check(Schema.isInt({ expected })).check(Schema.isBetween({ minimum, maximum }, { expected }))

const millis = (minimum: number) => int(`an integer number of milliseconds >= ${minimum}`, minimum, 86_400_000)

const fraction = Schema.Number.check(
  Schema.isBetween({ minimum: 0.05, maximum: 1 }, { expected: "a number between 0.05 and 1" }),
)

/**
 * The NFR analyzer/enforcer (`nfr.*`, env `OPRC_NFR_*`). The Rust CRM analyzes every 60 s over
 * 10 min with a 180 s stability window and a 120 s cooldown; a process driver starts a replica in
 * well under a second, so the defaults here are 4x shorter except the cooldown, which guards
 * against flapping and stays at 2 min.
 */
export const NfrConfig = Schema.Struct({
  prometheusUrl: Schema.optionalKey(
    HttpUrl.annotate({ description: "Prometheus base URL the analyzer queries; without it NfrObserved is Unknown" }),
  ),
  intervalMs: millis(100).annotate({ description: "how often every function is analyzed" }).pipe(withDefault(15_000)),
  rateWindowMs: millis(1000)
    .annotate({ description: "PromQL range of rate() and quantiles (at least 2 scrape intervals)" })
    .pipe(withDefault(60_000)),
  stabilityMs: millis(0)
    .annotate({ description: "how long a change (same direction) must be recommended before it is applied" })
    .pipe(withDefault(45_000)),
  cooldownMs: millis(0)
    .annotate({ description: "time after a scale change before a scale-in may happen" })
    .pipe(withDefault(120_000)),
  defaultReplicaCapacityRps: Schema.Number.check(
    Schema.isGreaterThan(0, { expected: "a number of requests per second > 0" }),
  ).annotate({ description: "requests/s one replica is assumed to serve until one has been measured" }).pipe(
    withDefault(100),
  ),
  saturation: fraction
    .annotate({ description: "share of a replica's capacity above which it counts as saturated (throughput NFR)" })
    .pipe(withDefault(0.8)),
  scaleInHeadroom: fraction
    .annotate({
      description: "scale in only if the lower count stays under this share of capacity and of the p99 target",
    })
    .pipe(withDefault(0.7)),
  maxReplicas: int("an integer from 1 to 1000", 1, 1000)
    .annotate({ description: "upper bound when a function sets no maxScale" })
    .pipe(withDefault(20)),
  queryTimeoutMs: millis(100).annotate({ description: "deadline of one Prometheus query" }).pipe(withDefault(5000)),
  fileSd: Schema.optionalKey(
    NonEmptyString.annotate({ description: "also write the scrape targets to this file_sd JSON file" }),
  ),
})
export type NfrConfig = typeof NfrConfig.Type
