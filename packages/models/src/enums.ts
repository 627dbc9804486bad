import { Schema } from "effect"

/**
 * The protos' enums as string literals. Each proto enum's UNSPECIFIED maps to the default named
 * here (see proto/enums.ts), so a client that leaves an enum unset gets the documented behaviour.
 */

export const Consistency = Schema.Literals(["EVENTUAL", "READ_YOUR_WRITES", "BOUNDED_STALENESS", "STRONG"])
export type Consistency = typeof Consistency.Type

export const AccessModifier = Schema.Literals(["PUBLIC", "INTERNAL", "PRIVATE"])
export type AccessModifier = typeof AccessModifier.Type

export const KeyType = Schema.Literals(["JSON", "STRING", "NUMBER", "BOOLEAN", "BYTES"])
export type KeyType = typeof KeyType.Type

export const FunctionType = Schema.Literals(["CUSTOM", "BUILTIN", "MACRO", "LOGICAL"])
export type FunctionType = typeof FunctionType.Type

export const TriggerEvent = Schema.Literals([
  "DATA_CREATE",
  "DATA_UPDATE",
  "DATA_DELETE",
  "FUNC_COMPLETE",
  "FUNC_ERROR",
])
export type TriggerEvent = typeof TriggerEvent.Type

export const EnforcementMode = Schema.Literals(["OFF", "OBSERVE", "ENFORCE"])
export type EnforcementMode = typeof EnforcementMode.Type

export const StorageEngine = Schema.Literals(["MEMORY", "SQLITE", "NATS"])
export type StorageEngine = typeof StorageEngine.Type

export const DeploymentPhase = Schema.Literals(["Pending", "Deploying", "Running", "Degraded", "Failed", "Deleting"])
export type DeploymentPhase = typeof DeploymentPhase.Type

export const ConditionStatus = Schema.Literals(["True", "False", "Unknown"])
export type ConditionStatus = typeof ConditionStatus.Type

/** How an invocation ended (functionv1.InvocationStatus without the prefix). */
export const InvocationStatus = Schema.Literals(["OK", "INVALID", "APP_ERROR", "SYSTEM_ERROR"])
export type InvocationStatus = typeof InvocationStatus.Type
