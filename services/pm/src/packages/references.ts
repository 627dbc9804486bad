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

/** The deployment with its ReferencesResolved condition (only for classes with triggers into other packages). */
export const withReferences = (packages: Packages["Service"]) => {
  const lookup: Lookup = (name) => packages.get(name).pipe(Effect.catchTag("NotFound", () => Effect.succeed(undefined)))
  return (d: Deployment): Effect.Effect<Deployment, Unavailable> =>
    Effect.gen(function*() {
      if (d.status === undefined) return d
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
      const conditions = [...d.status.conditions.filter((c) => c.type !== REFERENCES_RESOLVED), condition]
      return { ...d, status: { ...d.status, conditions } }
    })
}
