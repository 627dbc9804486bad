/** @oprc/models: the platform's domain types (Effect Schema), validation with field paths, proto <-> domain conversion, package files. */
export { checkShape, LARGE_INPUT_BYTES, MAX_VIOLATIONS, type ShapeLimits, stepIfLarge, Violations } from "./bounds"
export * from "./condition"
export * from "./deployment"
export * from "./enums"
export * from "./errors"
export * from "./fields"
export * from "./file"
export * from "./input-limits"
export { decodeWith, failIfAny, formatPath, issueViolations, joinPath, prefixViolations } from "./issues"
export * from "./object"
export * from "./package"
export { PackageDocument } from "./package-document"
export { brokenDependents, checkDependencies, dependencyViolations, triggerTargetViolations } from "./package-checks"
export {
  conditionFromProto,
  conditionToProto,
  deploymentFromProto,
  deploymentToProto,
  deploymentUnitFromProto,
  deploymentUnitToProto,
} from "./proto/deployment"
export {
  collectionFromProto,
  collectionToProto,
  objectFromProto,
  objectToProto,
  valueFromProto,
  valueToProto,
} from "./proto/object"
export { classToProto, functionToProto, packageFromProto, packageToProto } from "./proto/package"
/** Domain literal <-> proto enum number tables (phase, trigger event, access, invocation status, ...): the one home. */
export * as protoEnum from "./proto/enums"
export * from "./limits"
export { closingQuote, scanJson, yamlFlowTooDeep } from "./text-scan"
