import { type Effect, Schema } from "effect"
import { tracedFn } from "@oprc/observability"
import { ConditionStatus } from "./enums"
import type { ValidationError } from "./errors"
import { Millis, optLiteral, optString, optUInt, stringCheck } from "./fields"
import { decodeWith } from "./issues"

/** A Kubernetes-style status condition (Available, Progressing, Degraded, NfrObserved, ...). */
export const Condition = Schema.Struct({
  type: Schema.String.check(stringCheck((s) => s.length > 0, "must not be empty (e.g. \"Available\")")),
  status: optLiteral(ConditionStatus, "Unknown"),
  /** A CamelCase machine-readable reason. */
  reason: optString,
  message: optString,
  lastTransitionTime: Schema.optionalKey(Millis),
  /** Generation of the desired state this condition was computed from (0 = unknown). */
  observedGeneration: optUInt,
})
export type Condition = typeof Condition.Type

const decodeConditionSchema = decodeWith(Condition)
export const decodeCondition: (input: unknown) => Effect.Effect<Condition, ValidationError> = tracedFn(
  "Models.decodeCondition",
)(function*(input: unknown) {
  return yield* decodeConditionSchema(input)
})

/** Well-known condition types reported by every CRM driver. */
export const ConditionType = {
  Available: "Available",
  Progressing: "Progressing",
  Degraded: "Degraded",
  NfrObserved: "NfrObserved",
} as const
