import { Effect, SemVer, SemVerRange } from "effect"
import { type FieldViolation, ValidationError } from "./errors"
import { formatPath } from "./issues"
import type { Class, Package, PackageFields } from "./package"

/**
 * Checks that need more than one field: uniqueness, and references between a package's classes,
 * bindings, functions, triggers and dependencies. They run after the fields decoded, as a Schema
 * filter on Package, so a decode reports them with the same paths as field errors.
 */

export interface PathIssue {
  readonly path: ReadonlyArray<PropertyKey>
  readonly issue: string
}

type Path = ReadonlyArray<PropertyKey>

const duplicates = <A>(
  items: ReadonlyArray<A>,
  key: (a: A) => string,
  report: (index: number, key: string, first: number) => PathIssue,
): Array<PathIssue> => {
  const firstIndex = new Map<string, number>()
  const out: Array<PathIssue> = []
  items.forEach((item, i) => {
    const k = key(item)
    const first = firstIndex.get(k)
    if (first === undefined) firstIndex.set(k, i)
    else out.push(report(i, k, first))
  })
  return out
}

/** What a class's references resolve against. */
export interface ClassContext {
  readonly packageName: string
  /** Function keys available to the class's bindings. */
  readonly functions: ReadonlySet<string>
  /**
   * Binding names per class key, for triggers that target another class of the same package;
   * undefined when those classes are not at hand (a deployment unit carries one class).
   */
  readonly bindingsByClass: ReadonlyMap<string, ReadonlySet<string>> | undefined
  /** Where "not defined" references point to, e.g. "in this package". */
  readonly scope: string
}

/** Checks one class against its context; `at` is the class's path. */
export const classIssues = (cls: Class, ctx: ClassContext, at: Path): Array<PathIssue> => {
  const out: Array<PathIssue> = []
  out.push(...duplicates(cls.state.keys, (k) => k.name, (i, k, first) => ({
    path: [...at, "state", "keys", i, "name"],
    issue: `duplicate key "${k}" (also state.keys[${first}])`,
  })))
  out.push(...duplicates(cls.bindings, (b) => b.name, (i, k, first) => ({
    path: [...at, "bindings", i, "name"],
    issue: `duplicate binding name "${k}" (also bindings[${first}])`,
  })))
  cls.bindings.forEach((b, i) => {
    if (!ctx.functions.has(b.function)) {
      out.push({
        path: [...at, "bindings", i, "function"],
        issue: `function "${b.function}" is not defined ${ctx.scope}`,
      })
    }
  })
  const own = new Set(cls.bindings.map((b) => b.name))
  cls.triggers.forEach((t, i) => {
    const tp = [...at, "triggers", i]
    if ((t.event === "FUNC_COMPLETE" || t.event === "FUNC_ERROR") && !own.has(t.source)) {
      out.push({ path: [...tp, "source"], issue: `"${t.source}" is not a binding of class "${cls.key}"` })
    }
    const [targetPkg, targetCls] = t.target.cls === "" ? [ctx.packageName, cls.key] : splitClassRef(t.target.cls)
    // Targets in other packages can only be resolved at deploy time.
    if (targetPkg !== ctx.packageName) return
    if (targetCls !== cls.key && ctx.bindingsByClass === undefined) return
    const bindings = targetCls === cls.key ? own : ctx.bindingsByClass?.get(targetCls)
    if (bindings === undefined) {
      out.push({ path: [...tp, "target", "cls"], issue: `class "${targetCls}" is not defined ${ctx.scope}` })
    } else if (!bindings.has(t.target.function)) {
      out.push({
        path: [...tp, "target", "function"],
        issue: `"${t.target.function}" is not a binding of class "${targetCls}"`,
      })
    }
  })
  return out
}

const splitClassRef = (ref: string): readonly [string, string] => {
  const dot = ref.indexOf(".")
  return [ref.slice(0, dot), ref.slice(dot + 1)]
}

/** Every cross-field problem of a package whose fields are individually valid. */
export const packageIssues = (pkg: typeof PackageFields.Type): Array<PathIssue> => {
  const out: Array<PathIssue> = []
  out.push(...duplicates(pkg.classes, (c) => c.key, (i, k, first) => ({
    path: ["classes", i, "key"],
    issue: `duplicate class key "${k}" (also classes[${first}])`,
  })))
  out.push(...duplicates(pkg.functions, (f) => f.key, (i, k, first) => ({
    path: ["functions", i, "key"],
    issue: `duplicate function key "${k}" (also functions[${first}])`,
  })))
  const ctx: ClassContext = {
    packageName: pkg.name,
    functions: new Set(pkg.functions.map((f) => f.key)),
    bindingsByClass: new Map(pkg.classes.map((c) => [c.key, new Set(c.bindings.map((b) => b.name))])),
    scope: "in this package",
  }
  pkg.classes.forEach((cls, i) => out.push(...classIssues(cls, ctx, ["classes", i])))
  pkg.functions.forEach((f, i) => {
    const { minScale, maxScale } = f.provision
    if (maxScale > 0 && minScale > maxScale) {
      out.push({ path: ["functions", i, "provision", "minScale"], issue: `must not exceed maxScale (${maxScale})` })
    }
  })
  out.push(...duplicates(pkg.dependencies, (d) => d.name, (i, k, first) => ({
    path: ["dependencies", i, "name"],
    issue: `duplicate dependency "${k}" (also dependencies[${first}])`,
  })))
  pkg.dependencies.forEach((d, i) => {
    if (d.name === pkg.name) out.push({ path: ["dependencies", i, "name"], issue: "a package cannot depend on itself" })
  })
  return out
}

/** Converts filter-style issues into violations (for checks run outside a Schema). */
export const toViolations = (issues: ReadonlyArray<PathIssue>): Array<FieldViolation> =>
  issues.map((i) => ({ path: formatPath(i.path), message: i.issue }))

/**
 * Cross-package checks: every dependency exists and satisfies its version range, and no
 * dependency leads back to `pkg`. `lookup` sees the stored packages; `pkg` itself wins over a
 * stored package of the same name, so an update that introduces a cycle is caught.
 */
export const dependencyViolations = (
  pkg: Package,
  lookup: (name: string) => Package | undefined,
): Array<FieldViolation> => {
  const out: Array<FieldViolation> = []
  const find = (name: string): Package | undefined => (name === pkg.name ? pkg : lookup(name))
  pkg.dependencies.forEach((dep, i) => {
    if (dep.name === pkg.name) return
    const found = lookup(dep.name)
    if (found === undefined) {
      out.push({ path: `dependencies[${i}].name`, message: `package "${dep.name}" does not exist` })
      return
    }
    if (dep.version !== "" && !satisfies(dep.version, found.version)) {
      out.push({
        path: `dependencies[${i}].version`,
        message: `package "${dep.name}" is at version ${found.version}, which does not satisfy "${dep.version}"`,
      })
    }
    const cycle = pathBack(dep.name, pkg.name, find)
    if (cycle !== undefined) {
      out.push({
        path: `dependencies[${i}]`,
        message: `package "${dep.name}" depends back on "${pkg.name}" (cycle ${[pkg.name, ...cycle].join(" -> ")})`,
      })
    }
  })
  return out
}

const satisfies = (range: string, version: string): boolean => {
  const r = SemVerRange.parse(range)
  const v = SemVer.parse(version)
  return r._tag === "Success" && v._tag === "Success" && SemVerRange.matches(r.success, v.success)
}

/** A dependency path from `from` to `to` (both included), or undefined; depth-first, each package once. */
const pathBack = (from: string, to: string, find: (name: string) => Package | undefined): Array<string> | undefined => {
  const visited = new Set<string>()
  const go = (name: string): Array<string> | undefined => {
    if (name === to) return [name]
    if (visited.has(name)) return undefined
    visited.add(name)
    for (const dep of find(name)?.dependencies ?? []) {
      const rest = go(dep.name)
      if (rest !== undefined) return [name, ...rest]
    }
    return undefined
  }
  return go(from)
}

/** {@link dependencyViolations} as an Effect, for the Package Manager's create/update path. */
export const checkDependencies = (
  pkg: Package,
  lookup: (name: string) => Package | undefined,
): Effect.Effect<void, ValidationError> => {
  const violations = dependencyViolations(pkg, lookup)
  return violations.length === 0 ? Effect.void : Effect.fail(new ValidationError({ violations }))
}

/**
 * Trigger targets in other packages: the target package must be this package's dependency (or
 * reachable through its dependencies), hold the class, and the class the binding. `lookup` sees
 * the dependency closure (stored packages); targets in `pkg` itself are checked on decode.
 */
export const triggerTargetViolations = (
  pkg: Package,
  lookup: (name: string) => Package | undefined,
): Array<FieldViolation> => {
  const out: Array<FieldViolation> = []
  pkg.classes.forEach((cls, ci) => {
    cls.triggers.forEach((t, ti) => {
      if (t.target.cls === "") return
      const [targetPkg, targetCls] = splitClassRef(t.target.cls)
      if (targetPkg === pkg.name) return
      const at = `classes[${ci}].triggers[${ti}].target`
      const found = lookup(targetPkg)
      if (found === undefined) {
        out.push({
          path: `${at}.cls`,
          message: `package "${targetPkg}" is not a dependency of "${pkg.name}" (add it to dependencies)`,
        })
        return
      }
      const target = found.classes.find((c) => c.key === targetCls)
      if (target === undefined) {
        out.push({
          path: `${at}.cls`,
          message: `class "${targetCls}" is not defined in package "${targetPkg}" ${found.version}`,
        })
      } else if (!target.bindings.some((b) => b.name === t.target.function)) {
        out.push({
          path: `${at}.function`,
          message:
            `"${t.target.function}" is not a binding of class "${t.target.cls}" (package "${targetPkg}" ${found.version})`,
        })
      }
    })
  })
  return out
}

/**
 * What replacing a package by `next` would break in the packages that depend on it: a version
 * outside their range, or a class/binding their triggers target that `next` no longer has. One
 * line per dependent, naming it.
 */
export const brokenDependents = (next: Package, dependents: ReadonlyArray<Package>): Array<string> =>
  dependents.flatMap((d) => {
    const reasons: Array<string> = []
    for (const dep of d.dependencies) {
      if (dep.name === next.name && dep.version !== "" && !satisfies(dep.version, next.version)) {
        reasons.push(`needs "${next.name}" ${dep.version}`)
      }
    }
    d.classes.forEach((cls, ci) =>
      cls.triggers.forEach((t, ti) => {
        if (t.target.cls === "") return
        const [targetPkg, targetCls] = splitClassRef(t.target.cls)
        if (targetPkg !== next.name) return
        const target = next.classes.find((c) => c.key === targetCls)
        const where = `classes[${ci}].triggers[${ti}] targets`
        if (target === undefined) reasons.push(`${where} class "${t.target.cls}", which ${next.version} does not have`)
        else if (!target.bindings.some((b) => b.name === t.target.function)) {
          reasons.push(`${where} "${t.target.cls}" binding "${t.target.function}", which ${next.version} does not have`)
        }
      })
    )
    return reasons.length === 0 ? [] : [`"${d.name}" ${reasons.join("; ")}`]
  })
