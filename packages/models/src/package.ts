import { Effect, Result, Schema } from "effect"
import { tracedFn } from "@oprc/observability"
import { AccessModifier, Consistency, FunctionType, KeyType, TriggerEvent } from "./enums"
import { type FieldViolation, ValidationError } from "./errors"
import {
  BindingName,
  ClassKey,
  entryKeyMessage,
  FunctionKey,
  isEntryKey,
  isHttpUrl,
  isObjectId,
  Millis,
  optArray,
  optBoolean,
  optChecked,
  optLiteral,
  optString,
  optStringMap,
  optStruct,
  optUInt,
  optUInt32,
  PackageName,
  Port,
  stringCheck,
  withDefault,
} from "./fields"
import { checkInputShape, PackageLimits, packageShape } from "./input-limits"
import { decodeWith, MAX_VIOLATIONS, prefixViolations } from "./issues"
import { packageIssues, toViolations } from "./package-checks"
import { fastEncodePackage } from "./package-encode"
import { fastDecodePackage } from "./package-fast"
import { isClassRef, isEnvName, isHeaderName, isQuantity, isSemVer, isSemVerRange, reservedEnv } from "./package-rules"

export { isSemVer, isSemVerRange, reservedEnv }

/** Package, Class, Function, ... : the domain form of oprc.common.v1's package.proto. */

/** A semantic version (https://semver.org), e.g. "1.2.0"; kept as the author's string. */
export const Version = Schema.String.check(
  stringCheck(isSemVer, (s) => `${JSON.stringify(s)} is not a semantic version (e.g. "1.2.0")`),
)

/** An entry key of an object's state. */
export const EntryKey = Schema.String.check(stringCheck((s) => isEntryKey(s), entryKeyMessage))

export const KeySpec = Schema.Struct({
  name: EntryKey,
  type: optLiteral(KeyType, "JSON"),
  required: optBoolean,
  description: optString,
})
export type KeySpec = typeof KeySpec.Type

export const StateSpec = Schema.Struct({
  keys: optArray(KeySpec),
  consistency: optLiteral(Consistency, "EVENTUAL"),
})
export type StateSpec = typeof StateSpec.Type

export const FunctionBinding = Schema.Struct({
  name: BindingName,
  /** Key of a function in the same package. */
  function: FunctionKey,
  access: optLiteral(AccessModifier, "PUBLIC"),
  /** Invoked without an object. */
  stateless: optBoolean,
  description: optString,
})
export type FunctionBinding = typeof FunctionBinding.Type

export const TriggerTarget = Schema.Struct({
  /** Global class key "<package>.<Class>"; "" means the source's class. */
  cls: optChecked(isClassRef, `must be "<package>.<Class>", or empty for the source's class`),
  /** Binding name on the target class. */
  function: BindingName,
  /** "" means the source object (stateful targets of the same class). */
  objectId: optChecked(isObjectId, "must be 1 to 160 characters of lowercase letters, digits, '.', '_', ':' and '-'"),
  headers: optStringMap((k) => isHeaderName(k) || `${JSON.stringify(k)} is not an HTTP header name`),
})
export type TriggerTarget = typeof TriggerTarget.Type

export const Trigger = Schema.Struct({
  event: TriggerEvent,
  /** Entry key for data events ("*" = any key); binding name for function events. */
  source: Schema.String.check(
    stringCheck((s) => s.length > 0, "must not be empty (an entry key, \"*\", or a binding name)"),
  ),
  target: TriggerTarget,
})
export type Trigger = typeof Trigger.Type

const optQuantity = optChecked(
  isQuantity,
  (s) => `${JSON.stringify(s)} is not a resource quantity (e.g. "250m", "1", "512Mi")`,
)

export const Resources = Schema.Struct({
  cpuRequest: optQuantity,
  memoryRequest: optQuantity,
  cpuLimit: optQuantity,
  memoryLimit: optQuantity,
})
export type Resources = typeof Resources.Type

export const ProvisionConfig = Schema.Struct({
  /** Container image (Kubernetes driver). */
  image: optString,
  /** argv of a local process (process driver). */
  command: optArray(Schema.String),
  /** An already running function server; nothing is started. */
  url: optChecked(isHttpUrl, (s) => `${JSON.stringify(s)} is not an http(s) URL`),
  port: withDefault(Port, 0, (n) => n === 0),
  /** Maximum invocations in flight per replica; 0 = unlimited. */
  concurrency: optUInt32,
  resources: optStruct(Resources),
  minScale: optUInt32,
  /** 0 = no upper bound. */
  maxScale: optUInt32,
  http2: optBoolean,
  workingDir: optString,
})
export type ProvisionConfig = typeof ProvisionConfig.Type

export const Function = Schema.Struct({
  key: FunctionKey,
  type: optLiteral(FunctionType, "CUSTOM"),
  description: optString,
  provision: optStruct(ProvisionConfig),
  /** Environment variables of the function. */
  config: optStringMap((k) =>
    reservedEnv.has(k)
      ? `${k} is set by the platform and cannot be configured`
      : isEnvName(k) || `${JSON.stringify(k)} is not an environment variable name`
  ),
})
export type Function = typeof Function.Type

export const Class = Schema.Struct({
  key: ClassKey,
  description: optString,
  state: optStruct(StateSpec),
  bindings: optArray(FunctionBinding),
  /** Applied to every object of the class. */
  triggers: optArray(Trigger),
})
export type Class = typeof Class.Type

export const Dependency = Schema.Struct({
  name: PackageName,
  /** A version range such as "^1.2.0"; "" means any. */
  version: optChecked(isSemVerRange, (s) => `${JSON.stringify(s)} is not a version range (e.g. "^1.2.0")`),
})
export type Dependency = typeof Dependency.Type

export const PackageMetadata = Schema.Struct({
  author: optString,
  description: optString,
  tags: optArray(Schema.String),
  labels: optStringMap(),
})
export type PackageMetadata = typeof PackageMetadata.Type

export const PackageFields = Schema.Struct({
  name: PackageName,
  version: Version,
  metadata: optStruct(PackageMetadata),
  classes: optArray(Class),
  functions: optArray(Function),
  dependencies: optArray(Dependency),
  /** Storage revision, set by the server (0 = never stored). */
  revision: optUInt,
  createdAt: Schema.optionalKey(Millis),
  updatedAt: Schema.optionalKey(Millis),
})

/** A package; decoding also checks references between its parts (see package-checks.ts). */
export const Package = PackageFields.check(Schema.makeFilter(packageIssues))
export type Package = typeof Package.Type
/** The file / REST form: defaulted fields may be omitted. */
export type PackageInput = typeof Package.Encoded

/**
 * Validates anything (parsed JSON / YAML, a REST body) as a Package, reporting every problem with
 * its path. Reference checks (package-checks.ts) run once every field is individually valid.
 */
const decodePackageSchema = decodeWith(Package)
const decodeFields = decodeWith(PackageFields)
const decodeClass = decodeWith(Class)
const decodeFunction = decodeWith(Function)

/** Packages with more classes and functions than this are decoded in slices. */
const SLICED_ABOVE = 32
/** Longest stretch of decoding before other requests get the event loop. */
const SLICE_MS = 4

const isRecord = (u: unknown): u is Record<string, unknown> => u !== null && typeof u === "object" && !Array.isArray(u)

/**
 * A large package decoded a class and a function at a time, yielding every few milliseconds, so
 * a package at the limits (~50 k values, hundreds of ms of Schema work on a busy machine) cannot
 * hold the event loop. Same checks, same result as decoding it whole; violations are reported
 * top-level fields first, then classes, then functions, then cross-field ones.
 */
const decodeInSlices = (
  input: Record<string, unknown>,
  classes: ReadonlyArray<unknown>,
  functions: ReadonlyArray<unknown>,
) =>
  Effect.gen(function*() {
    const violations: Array<FieldViolation> = []
    const top = yield* Effect.result(decodeFields({ ...input, classes: [], functions: [] }))
    if (Result.isFailure(top)) violations.push(...top.failure.violations)
    let since = performance.now()
    const each = <A>(
      items: ReadonlyArray<unknown>,
      decode: (u: unknown) => Effect.Effect<A, ValidationError>,
      field: string,
    ) =>
      Effect.gen(function*() {
        const out: Array<A> = []
        for (let i = 0; i < items.length; i++) {
          const r = yield* Effect.result(decode(items[i]))
          if (Result.isFailure(r)) violations.push(...prefixViolations(`${field}[${i}]`)(r.failure).violations)
          else out.push(r.success)
          if (performance.now() - since > SLICE_MS) {
            yield* Effect.yieldNow
            since = performance.now()
          }
        }
        return out
      })
    const cs = yield* each(classes, decodeClass, "classes")
    const fs = yield* each(functions, decodeFunction, "functions")
    if (violations.length > 0 || Result.isFailure(top)) {
      return yield* new ValidationError({ violations: capped(violations) })
    }
    const pkg: Package = { ...top.success, classes: cs, functions: fs }
    const issues = packageIssues(pkg)
    if (issues.length > 0) return yield* new ValidationError({ violations: capped(toViolations(issues)) })
    return pkg
  })

const capped = (vs: ReadonlyArray<FieldViolation>): Array<FieldViolation> =>
  vs.length <= MAX_VIOLATIONS
    ? [...vs]
    : [...vs.slice(0, MAX_VIOLATIONS), {
      path: "",
      message: `and ${vs.length - MAX_VIOLATIONS} more violations not listed`,
    }]

/** Decodes without the shape pre-pass, for callers that ran it on a larger document already. */
export const decodePackageChecked = (input: unknown): Effect.Effect<Package, ValidationError> => {
  // The common case without the Schema interpreter (package-fast.ts), at every size: a package
  // at the limits (~50 k values) takes ~10 ms this way, one stretch. Anything it is unsure of,
  // every rejection included, is decoded (and worded) by the Schema, in slices when large.
  const fast = fastDecodePackage(input)
  if (fast !== undefined) return Effect.succeed(fast)
  if (isRecord(input)) {
    const { classes = [], functions = [] } = input
    if (Array.isArray(classes) && Array.isArray(functions) && classes.length + functions.length > SLICED_ABOVE) {
      return decodeInSlices(input, classes, functions)
    }
  }
  return decodePackageSchema(input)
}
export const decodePackage: (input: unknown) => Effect.Effect<Package, ValidationError> = tracedFn(
  "Models.decodePackage",
)(
  function*(input: unknown) {
    yield* PackageLimits.use((l) => checkInputShape(input, packageShape(l)))
    return yield* decodePackageChecked(input)
  },
)

/**
 * The file form of a package, omitting defaults. Checks are skipped: encoding a value that is
 * (by its type) a Package must not fail, even if it was assembled by hand. The same as
 * `Schema.encodeSync(Package)(pkg, { disableChecks: true })`, ~20x cheaper (package-fast.ts).
 */
export const encodePackage = (pkg: Package): PackageInput => fastEncodePackage(pkg)
