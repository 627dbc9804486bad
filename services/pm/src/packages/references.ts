import { Effect } from "effect"
import type { Condition, Deployment, Package, Unavailable } from "@oprc/models"
import type { Packages } from "./Packages"

/**
 * The ReferencesResolved condition of a deployment. Package checks keep trigger targets in other
 * packages resolvable, but a forced update of a dependency (`force=true`) can remove the class or
 * binding a deployed class's trigger targets: its deliveries would then fail at run time. The
 * condition says so, with the reason, whenever the deployment is read.
 */

const REFERENCES_RESOLVED = "ReferencesResolved"

type Lookup = (name: string) => Effect.Effect<Package | undefined, Unavailable>

const unresolved = (d: Deployment, lookup: Lookup) =>
  Effect.gen(function*() {
    const pkg = yield* lookup(d.packageName)
    const cls = pkg?.classes.find((c) => c.key === d.classKey)
    if (pkg === undefined || cls === undefined) return undefined
    const foreign = cls.triggers
      .map((t, i) => ({ t, i, dot: t.target.cls.indexOf(".") }))
      .filter(({ t, dot }) => t.target.cls !== "" && t.target.cls.slice(0, dot) !== pkg.name)
    if (foreign.length === 0) return undefined
    const problems: Array<string> = []
    for (const { t, i, dot } of foreign) {
      const targetPkg = t.target.cls.slice(0, dot)
      const target = yield* lookup(targetPkg)
      const targetCls = target?.classes.find((c) => c.key === t.target.cls.slice(dot + 1))
      if (target === undefined) {
        problems.push(`triggers[${i}] targets "${t.target.cls}", but package "${targetPkg}" does not exist`)
      } else if (targetCls === undefined) {
        problems.push(
          `triggers[${i}] targets class "${t.target.cls}", which "${targetPkg}" ${target.version} does not have`,
        )
      } else if (!targetCls.bindings.some((b) => b.name === t.target.function)) {
        problems.push(
          `triggers[${i}] targets "${t.target.cls}" binding "${t.target.function}", which "${targetPkg}" ${target.version} does not have`,
        )
      }
    }
    return problems
  })

interface Resolved {
  /** The packages the condition was computed from, as looked up (one object per stored revision). */
  readonly seen: ReadonlyArray<readonly [string, Package | undefined]>
  readonly result: Deployment
}

/**
 * The deployment with its ReferencesResolved condition (only for classes with triggers into other
 * packages). The same deployment object with the same packages behind it (each looked up again,
 * compared by identity: a new revision is a new object) gets the same result object, so an
 * unchanged deployment reads as one object per revision (storage/answers.ts).
 */
export const withReferences = (packages: Packages["Service"]) => {
  const lookup: Lookup = (name) => packages.get(name).pipe(Effect.catchTag("NotFound", () => Effect.succeed(undefined)))
  const resolved = new WeakMap<Deployment, Resolved>()
  const stillValid = (hit: Resolved) =>
    Effect.gen(function*() {
      for (const [name, pkg] of hit.seen) if ((yield* lookup(name)) !== pkg) return false
      return true
    })
  return (d: Deployment): Effect.Effect<Deployment, Unavailable> =>
    Effect.gen(function*() {
      if (d.status === undefined) return d
      const hit = resolved.get(d)
      if (hit !== undefined && (yield* stillValid(hit))) return hit.result
      const seen: Array<readonly [string, Package | undefined]> = []
      const result = yield* withCondition(d, d.status, (name) =>
        Effect.map(lookup(name), (pkg) => {
          seen.push([name, pkg])
          return pkg
        }))
      resolved.set(d, { seen, result })
      return result
    })
}

const withCondition = (d: Deployment, status: NonNullable<Deployment["status"]>, lookup: Lookup) =>
  Effect.gen(function*() {
    const problems = yield* unresolved(d, lookup)
    if (problems === undefined) return d
    const condition: Condition = problems.length === 0
      ? {
        type: REFERENCES_RESOLVED,
        status: "True",
        reason: "AllResolved",
        message: "every trigger target exists",
        observedGeneration: 0,
      }
      : {
        type: REFERENCES_RESOLVED,
        status: "False",
        reason: "UnresolvedReference",
        message: `class "${d.classKey}": ${problems.join("; ")}`,
        observedGeneration: 0,
      }
    const conditions = [...status.conditions.filter((c) => c.type !== REFERENCES_RESOLVED), condition]
    return { ...d, status: { ...status, conditions } }
  })
