import { Effect, Result } from "effect"
import YAML from "yaml"
import { tracedFn } from "@oprc/observability"
import { decodeDeployment, type Deployment, encodeDeployment } from "./deployment"
import { type FieldViolation, ValidationError } from "./errors"
import { joinPath } from "./issues"
import { MAX_VIOLATIONS, stepIfLarge } from "./bounds"
import { checkInputShape, PackageLimits, packageShape } from "./input-limits"
import { decodePackageChecked, encodePackage, type Package } from "./package"
import { scanJson, yamlFlowTooDeep } from "./text-scan"

/**
 * Package files (YAML or JSON). Like the Rust Oparaca's, a file may carry `deployments:` beside
 * the package; they are returned separately because the Package Manager stores them apart.
 * Keys are camelCase, as in the protos' JSON form; a key with an empty value (`description:`)
 * counts as absent.
 */

export type PackageFormat = "yaml" | "json"

export interface PackageFile {
  readonly package: Package
  readonly deployments: ReadonlyArray<Deployment>
}

const syntaxError = (message: string) => ValidationError.single("", message)

const yamlReason = (message: string): string => message.replace(/ at line \d+, column \d+:[\s\S]*$/, "")

/** What Bun's native YAML parser (~30x faster than `yaml`) says about a document, as a cheap first look. */
type FirstLook =
  | { readonly _tag: "Parsed"; readonly value: unknown }
  | { readonly _tag: "Refused"; readonly reason: string }
  | { readonly _tag: "Unknown" }

const LOCATE_YAML_ERRORS_BELOW = 64 * 1024

const firstLook = (text: string, limits: PackageLimits): FirstLook => {
  const native = (globalThis as { Bun?: { YAML?: { parse: (s: string) => unknown } } }).Bun?.YAML
  if (native === undefined) return { _tag: "Unknown" }
  try {
    return { _tag: "Parsed", value: native.parse(text) }
  } catch (cause) {
    // Only a document nested beyond any limit overflows its stack: refuse it without a second parse.
    if (cause instanceof RangeError) {
      return { _tag: "Refused", reason: `YAML is nested deeper than ${limits.maxDepth} levels` }
    }
    if (cause instanceof Error && /alias/i.test(cause.message) && /excessive/i.test(cause.message)) {
      return { _tag: "Refused", reason: "YAML expands too many aliases (at most 100)" }
    }
    // A syntax error: `yaml` below says where, unless the document is too large for the slow
    // parser to be run on a document already known to be broken.
    if (text.length > LOCATE_YAML_ERRORS_BELOW) {
      const reason = cause instanceof Error ? cause.message.replace(/^YAML Parse error: /, "") : String(cause)
      return {
        _tag: "Refused",
        reason: `YAML syntax error: ${reason} (documents over ${
          LOCATE_YAML_ERRORS_BELOW / 1024
        } KiB are not searched for its line)`,
      }
    }
    return { _tag: "Unknown" }
  }
}

/**
 * YAML: Bun's parser and the shape pre-pass first (a 1 M-level or 1 M-item document is refused in
 * milliseconds, before anything slow runs), then the `yaml` package for the document itself
 * (strict: duplicate keys, one document, positioned errors).
 */
const parseYaml = (text: string, limits: PackageLimits): Effect.Effect<unknown, ValidationError> =>
  Effect.gen(function*() {
    if (yamlFlowTooDeep(text, limits.maxDepth)) {
      return yield* syntaxError(`YAML is nested deeper than ${limits.maxDepth} levels`)
    }
    const look = firstLook(text, limits)
    if (look._tag === "Refused") return yield* syntaxError(look.reason)
    if (look._tag === "Parsed") {
      yield* checkInputShape(look.value, { ...packageShape(limits), maxNodes: limits.maxYamlValues })
    }
    // Let other requests run between the cheap checks and the expensive parse.
    yield* Effect.yieldNow
    const doc = YAML.parseDocument(text)
    yield* stepIfLarge(text.length)
    if (doc.errors.length > 0) {
      return yield* new ValidationError({
        violations: doc.errors.slice(0, MAX_VIOLATIONS).map((e) => {
          const at = e.linePos?.[0]
          const where = at === undefined ? "" : ` at line ${at.line}, column ${at.col}`
          return { path: "", message: `YAML syntax error${where}: ${yamlReason(e.message)}` }
        }),
      })
    }
    // toJS throws on unresolved aliases and on alias expansion beyond maxAliasCount (a "billion laughs" file).
    return yield* Effect.try({
      try: () => doc.toJS({ maxAliasCount: 100 }) as unknown,
      catch: (cause) => syntaxError(`YAML error: ${cause instanceof Error ? cause.message : String(cause)}`),
    })
  })

// JSON.parse's messages carry no position; the YAML parser (JSON is YAML) usually can say where,
// but it is slow: only small documents get a position.
const jsonPosition = (text: string): string => {
  if (text.length > 64 * 1024) return ""
  const at = YAML.parseDocument(text).errors[0]?.linePos?.[0]
  return at === undefined ? "" : ` (near line ${at.line}, column ${at.col})`
}

// Below this size JSON.parse is quicker than any look ahead.
const SCAN_JSON_ABOVE = 64 * 1024

const parseJson = (text: string, limits: PackageLimits): Effect.Effect<unknown, ValidationError> => {
  const found = text.length > SCAN_JSON_ABOVE ? scanJson(text, packageShape(limits)) : undefined
  if (found !== undefined) return Effect.fail(new ValidationError({ violations: [found] }))
  return Effect.andThen(stepIfLarge(text.length), parseJsonText(text))
}

const parseJsonText = (text: string): Effect.Effect<unknown, ValidationError> =>
  Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: (cause) =>
      cause instanceof RangeError
        ? syntaxError("JSON is nested too deeply")
        : syntaxError(
          `JSON syntax error${jsonPosition(text)}: ${
            cause instanceof Error ? cause.message.replace(/^JSON Parse error: /, "") : String(cause)
          }`,
        ),
  })

const isRecord = (u: unknown): u is Record<string, unknown> => u !== null && typeof u === "object" && !Array.isArray(u)

// defineProperty: a key named "__proto__" stays a key, as JSON.parse made it.
const define = (o: Record<string, unknown>, k: string, v: unknown) =>
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true })

/**
 * Object keys whose value is null are dropped: in YAML that is how an empty `key:` reads. Copy on
 * write: a document without a null (every JSON one a program wrote) comes back as it is, neither
 * copied (8 ms for a package at the limits) nor turned into objects slower to read.
 */
const dropNulls = (u: unknown): unknown => {
  if (u === null || typeof u !== "object") return u
  if (Array.isArray(u)) {
    let out: Array<unknown> | undefined
    for (let i = 0; i < u.length; i++) {
      const d = dropNulls(u[i])
      if (d !== u[i]) (out ??= [...u])[i] = d
    }
    return out ?? u
  }
  // Copy on write: `out` exists only once a key is dropped or a value changed. for-in with hasOwn
  // visits the own enumerable keys in Object.entries' order without allocating the entries
  // (~4x faster on a package without nulls).
  const o = u as Record<string, unknown>
  let out: Record<string, unknown> | undefined
  for (const k in o) {
    if (!Object.hasOwn(o, k)) continue
    const v = o[k]
    const d = v === null ? undefined : dropNulls(v)
    if (out === undefined) {
      if (d === v) continue
      out = {}
      // The first change is at `k`: copy the keys before it, as they are.
      for (const j in o) {
        if (j === k) break
        if (Object.hasOwn(o, j)) define(out, j, o[j])
      }
    }
    if (d !== undefined) define(out, k, d)
  }
  return out ?? u
}

const violationsOf = <A>(r: Result.Result<A, ValidationError>): ReadonlyArray<FieldViolation> =>
  Result.isFailure(r) ? r.failure.violations : []

/** Decodes a parsed file: the package and its deployments, with every problem of both reported together. */
export const decodePackageFile = tracedFn("Models.decodePackageFile")(function*(raw: unknown, inputBytes = 0) {
  // Bounded before anything walks the document (dropNulls recurses; Schema decodes every item).
  yield* PackageLimits.use((l) => checkInputShape(raw, packageShape(l)))
  yield* stepIfLarge(inputBytes)
  const input = dropNulls(raw)
  yield* stepIfLarge(inputBytes)
  const { deployments: rawDeployments = [], ...rest } = isRecord(input) ? input : {}
  const pkg = yield* Effect.result(decodePackageChecked(isRecord(input) ? rest : input))
  if (!Array.isArray(rawDeployments)) {
    return yield* new ValidationError({
      violations: [...violationsOf(pkg), { path: "deployments", message: "expected a list" }],
    })
  }
  const name = typeof rest["name"] === "string" ? rest["name"] : undefined
  const deployments = yield* Effect.forEach(
    rawDeployments,
    (d, i) =>
      Effect.result(
        decodeDeployment(withPackageName(d, name)).pipe(
          Effect.flatMap((dep) => checkAgainstPackage(dep, pkg)),
          Effect.mapError((e) =>
            new ValidationError({
              violations: e.violations.map((v) => ({ ...v, path: joinPath(`deployments[${i}]`, v.path) })),
            })
          ),
        ),
      ),
  )
  const violations = [...violationsOf(pkg), ...deployments.flatMap(violationsOf)]
  if (violations.length > 0 || Result.isFailure(pkg)) return yield* new ValidationError({ violations })
  const file: PackageFile = {
    package: pkg.success,
    deployments: deployments.flatMap((r) => (Result.isSuccess(r) ? [r.success] : [])),
  }
  return file
})

// Inside a package file a deployment's packageName is implied by the file.
const withPackageName = (d: unknown, name: string | undefined): unknown =>
  name !== undefined && isRecord(d) && !("packageName" in d)
    ? { ...d, packageName: name }
    : d

const checkAgainstPackage = (
  d: Deployment,
  pkg: Result.Result<Package, ValidationError>,
): Effect.Effect<Deployment, ValidationError> => {
  if (Result.isFailure(pkg)) return Effect.succeed(d)
  const violations: Array<FieldViolation> = []
  if (d.packageName !== pkg.success.name) {
    violations.push({ path: "packageName", message: `must be "${pkg.success.name}", the package of this file` })
  } else if (!pkg.success.classes.some((c) => c.key === d.classKey)) {
    violations.push({ path: "classKey", message: `class "${d.classKey}" is not defined in this package` })
  }
  return violations.length === 0 ? Effect.succeed(d) : Effect.fail(new ValidationError({ violations }))
}

/** Parses and validates a package file. YAML syntax errors come back with path "" and their line and column. */
export const loadPackageFile = tracedFn("Models.loadPackageFile")(function*(text: string, format: PackageFormat) {
  const limits = yield* PackageLimits
  const raw = yield* (format === "json" ? parseJson(text, limits) : parseYaml(text, limits))
  // (A small package is parsed and decoded in one step: a turn of the event loop between them
  // cost a scheduler hop and, on a store that answers at once, the call's promise.)
  yield* stepIfLarge(text.length)
  return yield* decodePackageFile(raw, text.length)
})

const yamlTypes = new Set(["application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"])

/**
 * Parses a package from an HTTP body: the format comes from the Content-Type when given
 * (parameters such as charset are ignored), otherwise from the text itself.
 */
export const parsePackageText = tracedFn("Models.parsePackageText")(function*(text: string, contentType?: string) {
  const mime = contentType?.split(";")[0]?.trim().toLowerCase() ?? ""
  const format: PackageFormat | undefined = mime === ""
    ? (/^\s*[{[]/.test(text) ? "json" : "yaml")
    : mime === "application/json" || mime.endsWith("+json")
    ? "json"
    : yamlTypes.has(mime) || mime.endsWith("+yaml")
    ? "yaml"
    : undefined
  if (format === undefined) {
    return yield* ValidationError.single(
      "",
      `unsupported content type "${contentType}" (use application/json or application/yaml)`,
    )
  }
  return yield* loadPackageFile(text, format)
})

/** The package (and optionally deployments) as a YAML file, omitting every defaulted field. */
export const packageToYaml = (pkg: Package, deployments: ReadonlyArray<Deployment> = []): string => {
  const file: Record<string, unknown> = { ...encodePackage(pkg) }
  if (deployments.length > 0) file["deployments"] = deployments.map(encodeDeployment)
  return YAML.stringify(file, { lineWidth: 0, aliasDuplicateObjects: false })
}

/** The same as JSON. */
export const packageToJson = (pkg: Package, deployments: ReadonlyArray<Deployment> = []): string => {
  const file: Record<string, unknown> = { ...encodePackage(pkg) }
  if (deployments.length > 0) file["deployments"] = deployments.map(encodeDeployment)
  return JSON.stringify(file, null, 2)
}
