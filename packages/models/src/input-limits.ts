import { Context, Effect, Schema } from "effect"
import { checkShape, type ShapeLimits, Violations } from "./bounds"
import { ValidationError } from "./errors"
import { formatPath, joinPath } from "./issues"
import { DEFAULT_MAX_DEPTH, depthExceeded } from "./limits"
import { isEntryKey } from "./fields"

/**
 * The limits on packages, collections and objects, with their defaults. Each is a Context
 * Reference: the defaults apply unless a server provides its configured values (PM `limits.*`,
 * ODGM `limits.*`), so pure callers (the CLI, tests) need nothing.
 */

const count = (description: string, value: number, maximum = 10_000_000) =>
  Schema.Number.check(Schema.isInt({ expected: "a positive integer" }))
    .check(Schema.isBetween({ minimum: 1, maximum }, { expected: `a positive integer up to ${maximum}` }))
    .annotate({ description })
    .pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)))

/** Package (and package file) limits; the PM's `limits` config section. */
export const PackageLimitsConfig = Schema.Struct({
  maxClasses: count("classes per package", 256),
  maxFunctions: count("functions per package", 256),
  maxBindingsPerClass: count("function bindings per class", 128),
  maxTriggersPerClass: count("triggers per class", 128),
  maxStateKeysPerClass: count("state keys per class", 256),
  maxDependencies: count("dependencies per package", 64),
  maxTags: count("metadata.tags entries", 64),
  maxLabels: count("metadata.labels entries", 64),
  maxDeployments: count("deployments in one package file", 64),
  maxListItems: count("items of any other list or map (command, config, headers, ...)", 256),
  maxValues: count("values in one JSON package document in all", 50_000),
  maxYamlValues: count(
    "values in one YAML package document in all (YAML parsing costs ~10x JSON's per value and cannot be sliced: post larger packages as JSON)",
    2_000,
  ),
  maxDepth: count("nesting depth of a package document", DEFAULT_MAX_DEPTH),
  maxStringLength: count("characters of any string in a package", 65_536),
  maxKeyLength: count("characters of any map key in a package", 256),
})
export type PackageLimits = typeof PackageLimitsConfig.Type
export const defaultPackageLimits: PackageLimits = Schema.decodeUnknownSync(PackageLimitsConfig)({})

/** Object and collection limits; ODGM's `limits` config section. */
export const ObjectLimitsConfig = Schema.Struct({
  maxEntryDepth: count(
    "nesting depth of an entry value (deeper state breaks function runtimes: protobuf recursion limits)",
    DEFAULT_MAX_DEPTH,
  ),
  maxEntries: count("entries per object", 1024),
  // Entry keys travel in protos and storage keys that allow 256 characters: the limit can only go lower.
  maxEntryKeyLength: count("characters of an entry key (at most 256)", 256, 256),
  maxObjectTriggers: count("triggers per object", 64),
  maxCollectionFunctions: count("functions per collection", 256),
  maxCollectionTriggers: count("triggers per collection", 256),
})
export type ObjectLimits = typeof ObjectLimitsConfig.Type
export const defaultObjectLimits: ObjectLimits = Schema.decodeUnknownSync(ObjectLimitsConfig)({})

/** The limits packages are validated against (defaults unless a server provides its own). */
export const PackageLimits = Context.Reference<PackageLimits>("oprc/models/PackageLimits", {
  defaultValue: () => defaultPackageLimits,
})
/** The limits objects and collections are validated against. */
export const ObjectLimits = Context.Reference<ObjectLimits>("oprc/models/ObjectLimits", {
  defaultValue: () => defaultObjectLimits,
})

const packageItems = (l: PackageLimits): Record<string, number> => ({
  classes: l.maxClasses,
  functions: l.maxFunctions,
  dependencies: l.maxDependencies,
  "metadata.tags": l.maxTags,
  "metadata.labels": l.maxLabels,
  "classes[].bindings": l.maxBindingsPerClass,
  "classes[].triggers": l.maxTriggersPerClass,
  "classes[].state.keys": l.maxStateKeysPerClass,
  deployments: l.maxDeployments,
})

/** The shape a package document (optionally with `deployments:`) must fit before it is decoded. */
export const packageShape = (l: PackageLimits): ShapeLimits => ({
  maxDepth: l.maxDepth,
  maxItems: l.maxListItems,
  items: packageItems(l),
  maxStringLength: l.maxStringLength,
  maxKeyLength: l.maxKeyLength,
  maxNodes: l.maxValues,
})

/** The shape of a collection. Entry-free, so the package depth and string limits are plenty. */
export const collectionShape = (l: ObjectLimits): ShapeLimits => ({
  maxDepth: DEFAULT_MAX_DEPTH,
  maxItems: defaultPackageLimits.maxListItems,
  items: { functions: l.maxCollectionFunctions, triggers: l.maxCollectionTriggers },
  maxStringLength: defaultPackageLimits.maxStringLength,
  maxKeyLength: defaultPackageLimits.maxKeyLength,
  maxNodes: (l.maxCollectionFunctions + l.maxCollectionTriggers) * 16 + 64,
})

/** A ValidationError with at most MAX_VIOLATIONS violations, the rest counted in a last one. */
export const violationsError = (v: Violations): ValidationError =>
  new ValidationError({
    violations: v.omitted === 0
      ? v.list
      : [...v.list, { path: "", message: `and ${v.omitted} more violations not listed` }],
  })

/** Fails when `input` does not fit `limits`: cheap, before any Schema decoding. */
export const checkInputShape = (
  input: unknown,
  limits: ShapeLimits,
  prefix: ReadonlyArray<PropertyKey> = [],
): Effect.Effect<void, ValidationError> => {
  const v = new Violations()
  checkShape(input, limits, v, prefix)
  return v.size === 0 ? Effect.void : Effect.fail(violationsError(v))
}

const previewKey = (k: string): string => JSON.stringify(k.length > 40 ? `${k.slice(0, 40)}...` : k)

/**
 * An object's entries against the limits, before anything is stored: how many, their key names,
 * and how deep each value is nested (state deeper than a function runtime can take is refused
 * on write, not discovered by the next invoke). Paths are `entries.<key>...`.
 */
export const checkEntries = (
  entries: Readonly<Record<string, unknown>>,
  l: ObjectLimits,
  out: Violations,
  path = "entries",
  checkDepth = true,
): void => {
  const keys = Object.keys(entries)
  if (keys.length > l.maxEntries) {
    out.add(path, `has ${keys.length} entries; at most ${l.maxEntries} are allowed`)
    return
  }
  for (const k of keys) {
    if (!isEntryKey(k, l.maxEntryKeyLength)) {
      out.add(
        joinPath(path, formatPath([k.slice(0, 64)])),
        `key ${
          previewKey(k)
        } is not an entry key: use 1 to ${l.maxEntryKeyLength} characters without whitespace or control characters`,
      )
      continue
    }
    if (!checkDepth) continue
    const deep = depthExceeded(entries[k], l.maxEntryDepth)
    if (deep !== undefined) {
      out.add(
        joinPath(path, formatPath([k, ...deep])),
        `is nested deeper than ${l.maxEntryDepth} levels (limits.maxEntryDepth); function runtimes cannot take such state`,
      )
    }
  }
}

/** {@link checkEntries} as an Effect with the current ObjectLimits. */
export const checkObjectEntries = (
  entries: Readonly<Record<string, unknown>>,
  path = "entries",
): Effect.Effect<void, ValidationError> =>
  ObjectLimits.use((l) => {
    const v = new Violations()
    checkEntries(entries, l, v, path)
    return v.size === 0 ? Effect.void : Effect.fail(violationsError(v))
  })

/**
 * An object write as it arrives (a REST body, or an RPC request's fields as plain values): its
 * entries ({@link checkEntries}), its triggers and the keys it deletes, counted before decoding.
 */
export const checkObjectWrite = (write: {
  readonly entries?: unknown
  readonly triggers?: unknown
  readonly delete?: unknown
  readonly deletePath?: string
  /** Entry values are proto messages: their depth is checked while they are decoded (valueFromProto). */
  readonly protoValues?: boolean
}): Effect.Effect<void, ValidationError> =>
  ObjectLimits.use((l) => {
    const v = new Violations()
    const { entries, triggers } = write
    if (entries !== null && typeof entries === "object" && !Array.isArray(entries)) {
      checkEntries(entries as Record<string, unknown>, l, v, "entries", write.protoValues !== true)
    }
    if (Array.isArray(triggers) && triggers.length > l.maxObjectTriggers) {
      v.add("triggers", `has ${triggers.length} items; at most ${l.maxObjectTriggers} are allowed`)
    }
    const path = write.deletePath ?? "delete"
    if (Array.isArray(write.delete)) {
      if (write.delete.length > l.maxEntries) {
        v.add(path, `has ${write.delete.length} items; at most ${l.maxEntries} are allowed`)
      } else {
        write.delete.forEach((k: unknown, i) => {
          if (typeof k === "string" && !isEntryKey(k, l.maxEntryKeyLength)) {
            v.add(`${path}[${i}]`, `${previewKey(k)} is not an entry key`)
          }
        })
      }
    }
    return v.size === 0 ? Effect.void : Effect.fail(violationsError(v))
  })
