import { commonv1, functionv1 } from "@oprc/proto"
import type * as E from "../enums"

/**
 * Domain literal <-> proto enum number. On the way in, UNSPECIFIED (0) becomes an absent field so
 * the schema's default applies, and an unknown number (a newer peer) is passed through as-is so
 * decoding reports it with its path instead of guessing.
 */

export interface EnumTable<L extends string> {
  readonly toProto: (literal: L) => number
  /** The literal, the raw number when unknown, or undefined for UNSPECIFIED. */
  readonly fromProto: (n: number) => L | number | undefined
  /** The literal for a known number; `fallback` for UNSPECIFIED or a number this build does not know. */
  readonly literalOr: (n: number, fallback: L) => L
}

const table = <L extends string>(mapping: { readonly [K in L]: number }): EnumTable<L> => {
  const reverse = new Map<number, L>()
  for (const literal in mapping) reverse.set(mapping[literal], literal)
  return {
    toProto: (literal) => mapping[literal],
    fromProto: (n) => (n === 0 ? undefined : reverse.get(n) ?? n),
    literalOr: (n, fallback) => reverse.get(n) ?? fallback,
  }
}

export const consistency = table<E.Consistency>({
  EVENTUAL: commonv1.Consistency.EVENTUAL,
  READ_YOUR_WRITES: commonv1.Consistency.READ_YOUR_WRITES,
  BOUNDED_STALENESS: commonv1.Consistency.BOUNDED_STALENESS,
  STRONG: commonv1.Consistency.STRONG,
})

export const access = table<E.AccessModifier>({
  PUBLIC: commonv1.AccessModifier.PUBLIC,
  INTERNAL: commonv1.AccessModifier.INTERNAL,
  PRIVATE: commonv1.AccessModifier.PRIVATE,
})

export const keyType = table<E.KeyType>({
  JSON: commonv1.KeyType.JSON,
  STRING: commonv1.KeyType.STRING,
  NUMBER: commonv1.KeyType.NUMBER,
  BOOLEAN: commonv1.KeyType.BOOLEAN,
  BYTES: commonv1.KeyType.BYTES,
})

export const functionType = table<E.FunctionType>({
  CUSTOM: commonv1.FunctionType.CUSTOM,
  BUILTIN: commonv1.FunctionType.BUILTIN,
  MACRO: commonv1.FunctionType.MACRO,
  LOGICAL: commonv1.FunctionType.LOGICAL,
})

export const triggerEvent = table<E.TriggerEvent>({
  DATA_CREATE: commonv1.TriggerEvent.DATA_CREATE,
  DATA_UPDATE: commonv1.TriggerEvent.DATA_UPDATE,
  DATA_DELETE: commonv1.TriggerEvent.DATA_DELETE,
  FUNC_COMPLETE: commonv1.TriggerEvent.FUNC_COMPLETE,
  FUNC_ERROR: commonv1.TriggerEvent.FUNC_ERROR,
})

export const enforcement = table<E.EnforcementMode>({
  OFF: commonv1.EnforcementMode.OFF,
  OBSERVE: commonv1.EnforcementMode.OBSERVE,
  ENFORCE: commonv1.EnforcementMode.ENFORCE,
})

export const storage = table<E.StorageEngine>({
  MEMORY: commonv1.StorageEngine.MEMORY,
  SQLITE: commonv1.StorageEngine.SQLITE,
  NATS: commonv1.StorageEngine.NATS,
})

export const phase = table<E.DeploymentPhase>({
  Pending: commonv1.DeploymentPhase.PENDING,
  Deploying: commonv1.DeploymentPhase.DEPLOYING,
  Running: commonv1.DeploymentPhase.RUNNING,
  Degraded: commonv1.DeploymentPhase.DEGRADED,
  Failed: commonv1.DeploymentPhase.FAILED,
  Deleting: commonv1.DeploymentPhase.DELETING,
})

export const conditionStatus = table<E.ConditionStatus>({
  True: commonv1.ConditionStatus.TRUE,
  False: commonv1.ConditionStatus.FALSE,
  Unknown: commonv1.ConditionStatus.UNKNOWN,
})

export const invocationStatus = table<E.InvocationStatus>({
  OK: functionv1.InvocationStatus.OK,
  INVALID: functionv1.InvocationStatus.INVALID,
  APP_ERROR: functionv1.InvocationStatus.APP_ERROR,
  SYSTEM_ERROR: functionv1.InvocationStatus.SYSTEM_ERROR,
})

/** `{ [key]: literal }` for a proto enum value, or {} when UNSPECIFIED. */
export const enumField = <L extends string>(key: string, t: EnumTable<L>, n: number): Record<string, L | number> => {
  const v = t.fromProto(n)
  return v === undefined ? {} : { [key]: v }
}
