import type { Condition, DeploymentUnit } from "@oprc/models"
import type { FunctionObservation } from "../Driver"

/** One replica the driver manages (started by this CRM, or adopted from an earlier one). */
export interface ReplicaState {
  readonly unitId: string
  readonly fn: string
  readonly index: number
  readonly specHash: string
  readonly argv: ReadonlyArray<string>
  readonly port: number
  readonly url: string
  readonly pid: number
  readonly ticks: string
  readonly startedAt: number
  phase: "starting" | "ready" | "stopping"
  /** Set when the driver itself killed it for not getting ready in time. */
  startFailure: string | undefined
}

/** Crash history of one function of a unit: drives restart backoff and the crash-loop condition. */
export interface FunctionHealth {
  exits: Array<number>
  crashes: number
  nextStartAt: number
  lastError: string
}

export interface UnitRuntime {
  unit: DeploymentUnit | undefined
  /** `${fn}/${index}` -> replica; replicas being stopped are not in here. */
  readonly replicas: Map<string, ReplicaState>
  /** Replacements started for slots whose spec changed; they take over the slot once ready. */
  readonly surge: Map<string, ReplicaState>
  readonly stopping: Set<ReplicaState>
  readonly health: Map<string, FunctionHealth>
  /** Fingerprint of the collection last applied to ODGM. */
  applied: string | undefined
  /** A unit the driver cannot run as given (unknown template, no command): the reason. */
  fatal: { readonly reason: string; readonly message: string } | undefined
}

export const slot = (fn: string, index: number) => `${fn}/${index}`

const words = [
  "zero",
  "once",
  "twice",
  "three times",
  "four times",
  "five times",
  "six times",
  "seven times",
  "eight times",
  "nine times",
  "ten times",
]
export const times = (n: number) => words[n] ?? `${n} times`

const condition = (
  type: string,
  status: Condition["status"],
  reason: string,
  message: string,
  generation: number,
): Condition => ({
  type,
  status,
  reason,
  message,
  observedGeneration: generation,
})

/**
 * Available: every function has a ready replica. Progressing: replicas still starting or being
 * replaced. Degraded: a replica exited unexpectedly and is not back yet, a crash loop, or a unit
 * the driver cannot run at all (then nothing is Available).
 */
export const conditionsOf = (
  generation: number,
  functions: ReadonlyArray<FunctionObservation>,
  fatal: UnitRuntime["fatal"],
  crashLooping: ReadonlyArray<string>,
  rollingOut: ReadonlyArray<string>,
): Array<Condition> => {
  if (fatal !== undefined) {
    return [
      condition("Available", "False", fatal.reason, fatal.message, generation),
      condition("Progressing", "False", fatal.reason, fatal.message, generation),
      condition("Degraded", "True", fatal.reason, fatal.message, generation),
    ]
  }
  const notReady = functions.filter((f) => f.readyReplicas < f.desiredReplicas)
  const available = functions.every((f) => f.readyReplicas > 0)
  const troubled = notReady.filter((f) => f.message !== "")
  const summary = (fs: ReadonlyArray<FunctionObservation>) =>
    fs.map((f) => f.message || `function \`${f.function}\`: ${f.readyReplicas}/${f.desiredReplicas} replicas ready`)
      .join("; ")
  return [
    available
      ? condition("Available", "True", "ReplicasReady", `every function has a ready replica`, generation)
      : condition(
        "Available",
        "False",
        troubled.length > 0 ? "ReplicasFailing" : "ReplicasStarting",
        summary(notReady),
        generation,
      ),
    notReady.length === 0 && rollingOut.length > 0
      ? condition("Progressing", "True", "RollingOut", rollingOut.join("; "), generation)
      : notReady.length === 0
      ? condition(
        "Progressing",
        "False",
        "Settled",
        `all ${functions.reduce((n, f) => n + f.desiredReplicas, 0)} replicas ready`,
        generation,
      )
      : condition("Progressing", "True", "RollingOut", summary(notReady), generation),
    crashLooping.length > 0
      ? condition("Degraded", "True", "CrashLoop", crashLooping.join("; "), generation)
      : troubled.length > 0
      ? condition("Degraded", "True", "ReplicaFailed", summary(troubled), generation)
      : condition("Degraded", "False", "Healthy", "", generation),
  ]
}
