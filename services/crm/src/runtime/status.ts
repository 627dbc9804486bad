import type { Condition, DeploymentPhase, DeploymentUnit } from "@oprc/models"
import type { FunctionObservation, NfrReport, UnitObservation } from "../driver/Driver"

/** What the CRM reports about one unit (the domain form of crmv1.DeploymentUnitStatus). */
export interface UnitStatus {
  readonly unitId: string
  readonly phase: DeploymentPhase
  readonly conditions: ReadonlyArray<Condition>
  readonly observedGeneration: number
  readonly message: string
  readonly functions: ReadonlyArray<FunctionObservation>
  readonly odgmUrl: string
  readonly updatedAt: number
  readonly recommendation: NfrReport["recommendation"]
}

const find = (cs: ReadonlyArray<Condition>, type: string) => cs.find((c) => c.type === type)

/** NfrObserved before (or without) an analyzer report. */
const nfrDefault = (unit: DeploymentUnit, generation: number): Condition =>
  unit.enforcement === "OFF"
    ? {
      type: "NfrObserved",
      status: "False",
      reason: "Off",
      message: "NFR enforcement is off for this deployment",
      observedGeneration: generation,
    }
    : {
      type: "NfrObserved",
      status: "Unknown",
      reason: "NotObservedYet",
      message: "the NFR analyzer has not reported on this unit yet",
      observedGeneration: generation,
    }

/** Keeps a condition's lastTransitionTime while its status stays the same. */
const stamp = (c: Condition, previous: ReadonlyArray<Condition>, now: number): Condition => {
  const before = find(previous, c.type)
  return {
    ...c,
    lastTransitionTime: before !== undefined && before.status === c.status && before.lastTransitionTime !== undefined
      ? before.lastTransitionTime
      : now,
  }
}

const phaseOf = (conditions: ReadonlyArray<Condition>): DeploymentPhase => {
  const available = find(conditions, "Available")?.status === "True"
  const degraded = find(conditions, "Degraded")
  if (
    degraded?.status === "True" && !available &&
    (degraded.reason === "UnknownTemplate" || degraded.reason === "InvalidFunction")
  ) return "Failed"
  if (degraded?.status === "True") return "Degraded"
  if (available && find(conditions, "Progressing")?.status !== "True") return "Running"
  return "Deploying"
}

const messageOf = (
  phase: DeploymentPhase,
  conditions: ReadonlyArray<Condition>,
  functions: ReadonlyArray<FunctionObservation>,
  generation: number,
) => {
  if (phase === "Running") {
    return `generation ${generation} running: ${
      functions.map((f) => `${f.function} ${f.readyReplicas}/${f.desiredReplicas}`).join(", ")
    }`
  }
  const why = [find(conditions, "Degraded"), find(conditions, "Progressing"), find(conditions, "Available")]
    .find((c) => c !== undefined && c.status === (c.type === "Available" ? "False" : "True") && c.message !== "")
  return why?.message ?? `generation ${generation}: ${phase.toLowerCase()}`
}

/** The unit's status from the driver's observation, the NFR report and the previous status. */
export const statusFrom = (
  unit: DeploymentUnit,
  obs: UnitObservation,
  nfr: NfrReport | undefined,
  previous: UnitStatus | undefined,
  now: number,
): UnitStatus => {
  const nfrCondition: Condition = nfr === undefined
    ? nfrDefault(unit, unit.generation)
    : {
      type: "NfrObserved",
      status: nfr.status,
      reason: nfr.reason,
      message: nfr.message,
      observedGeneration: unit.generation,
    }
  const conditions = [...obs.conditions, nfrCondition].map((c) => stamp(c, previous?.conditions ?? [], now))
  const phase = phaseOf(conditions)
  return {
    unitId: unit.id,
    phase,
    conditions,
    observedGeneration: unit.generation,
    message: messageOf(phase, conditions, obs.functions, unit.generation),
    functions: obs.functions,
    odgmUrl: obs.odgmUrl,
    updatedAt: now,
    recommendation: nfr?.recommendation,
  }
}

/** A unit whose driver step failed (e.g. ODGM unreachable): still Progressing, with the reason. */
export const blockedStatus = (
  unit: DeploymentUnit,
  reason: string,
  message: string,
  previous: UnitStatus | undefined,
  now: number,
): UnitStatus => {
  const base = previous?.observedGeneration === unit.generation
    ? previous.conditions.filter((c) => c.type !== "Progressing")
    : []
  const conditions = [
    ...(base.length > 0
      ? base
      : [{ type: "Available", status: "False", reason, message, observedGeneration: unit.generation } as Condition]),
    { type: "Progressing", status: "True", reason, message, observedGeneration: unit.generation } as Condition,
  ].map((c) => stamp(c, previous?.conditions ?? [], now))
  return {
    unitId: unit.id,
    phase: phaseOf(conditions),
    conditions,
    observedGeneration: unit.generation,
    message,
    functions: previous?.functions ?? [],
    odgmUrl: previous?.odgmUrl ?? "",
    updatedAt: now,
    recommendation: previous?.recommendation,
  }
}

/** Status changes worth publishing (the time stamp alone is not one). */
export const fingerprint = (s: UnitStatus | undefined) => s === undefined ? "" : JSON.stringify({ ...s, updatedAt: 0 })
