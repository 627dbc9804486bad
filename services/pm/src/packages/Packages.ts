import { Clock, Context, Effect, Layer, Option } from "effect"
import type { Versioned } from "@oprc/cp-storage"
import {
  AlreadyExists,
  brokenDependents,
  checkDependencies,
  FailedPrecondition,
  NotFound,
  orUnavailable,
  type Package,
  triggerTargetViolations,
  type Unavailable,
  ValidationError,
  VersionConflict,
} from "@oprc/models"
import { tracedFn } from "@oprc/observability"
import { Deployments } from "../deployments/Deployments"
import { filteredPage, glob, listAll, pageLimit } from "../storage/paging"
import { PmStore, renamed } from "../storage/PmStore"

export interface PackageQuery {
  /** Glob over names ('*', '?'); empty matches all. */
  readonly namePattern?: string | undefined
  /** Packages carrying every one of these tags. */
  readonly tags?: ReadonlyArray<string> | undefined
  readonly limit?: number | undefined
  readonly cursor?: string | undefined
}

/** Packages: validated (fields, references, dependencies), stored with optimistic concurrency. */
export class Packages extends Context.Service<Packages, {
  readonly create: (pkg: Package) => Effect.Effect<Package, ValidationError | AlreadyExists | Unavailable>
  readonly get: (name: string) => Effect.Effect<Package, NotFound | Unavailable>
  readonly list: (
    query: PackageQuery,
    /** `bytes`: the stored JSON the page read (see filteredPage), what it may weigh at most. */
  ) => Effect.Effect<
    { items: ReadonlyArray<Package>; nextCursor: string | undefined; bytes: number },
    ValidationError | Unavailable
  >
  /**
   * expectedRevision 0/undefined = unconditional. Deployments of the package roll to the new
   * version. Refused (FailedPrecondition naming them) when the new version breaks dependents'
   * version ranges or trigger targets, unless `force`.
   */
  readonly update: (
    pkg: Package,
    expectedRevision?: number,
    force?: boolean,
  ) => Effect.Effect<Package, ValidationError | NotFound | VersionConflict | FailedPrecondition | Unavailable>
  /** Refused while deployments exist unless `cascade`, which deletes them too. */
  readonly delete: (
    name: string,
    cascade: boolean,
  ) => Effect.Effect<ReadonlyArray<string>, NotFound | FailedPrecondition | VersionConflict | Unavailable>
  readonly all: Effect.Effect<ReadonlyArray<Package>, Unavailable>
  /**
   * Packages in name order after `after` (exclusive) and starting with `prefix`, one store page:
   * at most `limit`, ending early past `maxBytes` of stored JSON (cp-storage ListOptions).
   * `more`: packages follow; `bytes`: the stored JSON read.
   */
  readonly scan: (options: {
    readonly after?: string | undefined
    readonly prefix?: string | undefined
    readonly limit: number
    readonly maxBytes: number
  }) => Effect.Effect<
    { readonly items: ReadonlyArray<Package>; readonly more: boolean; readonly bytes: number },
    Unavailable
  >
}>()("pm/Packages") {
  static readonly layer = Layer.effect(Packages)(
    Effect.gen(function*() {
      const store = yield* PmStore
      const deployments = yield* Deployments
      const collection = store.packages

      // One object per stored revision (the store hands out the same Versioned for it), so
      // callers can cache what they derive from a package (its proto form, its JSON).
      const revised = new WeakMap<Versioned<Package>, Package>()
      const withRevision = (v: Versioned<Package>): Package => {
        let pkg = revised.get(v)
        if (pkg === undefined) revised.set(v, pkg = { ...v.value, revision: Number(v.revision) })
        return pkg
      }

      const read = (name: string) =>
        Effect.flatMap(
          collection.get(name),
          (o) => Option.isSome(o) ? Effect.succeed(o.value) : Effect.fail(new NotFound({ resource: "package", name })),
        )

      /** Every package reachable through `pkg`'s dependencies, read from storage. */
      const dependencyClosure = (pkg: Package) =>
        Effect.gen(function*() {
          const found = new Map<string, Package>()
          const seen = new Set<string>([pkg.name])
          let frontier = pkg.dependencies.map((d) => d.name)
          while (frontier.length > 0) {
            const batch = frontier.filter((n) => !seen.has(n))
            batch.forEach((n) => seen.add(n))
            const fetched = yield* Effect.forEach(batch, (n) => collection.get(n), { concurrency: 8 })
            frontier = []
            for (const o of fetched) {
              if (Option.isNone(o)) continue
              found.set(o.value.key, o.value.value)
              frontier.push(...o.value.value.dependencies.map((d) => d.name))
            }
          }
          return found
        })

      // Dependencies exist, satisfy their ranges, close no cycle; triggers into them resolve.
      const checkDeps = (pkg: Package) =>
        Effect.flatMap(
          dependencyClosure(pkg),
          (found) =>
            Effect.andThen(checkDependencies(pkg, (n) => found.get(n)), () => {
              const violations = triggerTargetViolations(pkg, (n) => found.get(n))
              return violations.length === 0 ? Effect.void : Effect.fail(new ValidationError({ violations }))
            }),
        )

      /** Stored packages that depend on `name`. */
      const dependentsOf = (name: string) =>
        Effect.map(all, (ps) => ps.filter((p) => p.dependencies.some((d) => d.name === name)))

      const create = tracedFn("Packages.create")(function*(pkg: Package) {
        yield* Effect.annotateCurrentSpan({ "oprc.package": pkg.name })
        yield* checkDeps(pkg)
        const now = yield* Clock.currentTimeMillis
        const stored: Package = { ...pkg, revision: 0, createdAt: now, updatedAt: now }
        // Retries belong to the storage layer (docs/architecture.md "Retries"): the etcd backend
        // retries a write whose outcome is unknown and recognises its own earlier attempt, so a
        // retry here would only multiply its budget.
        const written = yield* collection.create(pkg.name, stored).pipe(
          Effect.catchTag(
            "AlreadyExists",
            () => Effect.fail(new AlreadyExists({ resource: "package", name: pkg.name })),
          ),
        )
        return withRevision(written)
      })

      const update = tracedFn("Packages.update")(function*(pkg: Package, expectedRevision?: number, force = false) {
        yield* Effect.annotateCurrentSpan({ "oprc.package": pkg.name })
        const current = yield* read(pkg.name)
        const expected = expectedRevision === undefined || expectedRevision === 0
          ? current.revision
          : BigInt(expectedRevision)
        if (expected !== current.revision) {
          return yield* new VersionConflict({
            resource: "package",
            name: pkg.name,
            expected: String(expected),
            actual: String(current.revision),
          })
        }
        yield* checkDeps(pkg)
        const broken = brokenDependents(pkg, yield* dependentsOf(pkg.name))
        if (broken.length > 0 && !force) {
          return yield* new FailedPrecondition({
            reason: `version ${pkg.version} of "${pkg.name}" breaks the packages that depend on it: ${
              broken.join("; ")
            }; update them first, or pass force=true`,
          })
        }
        if (broken.length > 0) {
          yield* Effect.logWarning(
            `package ${pkg.name} ${pkg.version} forced over broken dependents: ${broken.join("; ")}`,
          )
        }
        const inUse = yield* deployments.ofPackage(pkg.name)
        const classes = new Set<string>(pkg.classes.map((c) => c.key))
        const orphaned = inUse.filter((d) => !classes.has(d.classKey))
        if (orphaned.length > 0) {
          return yield* new FailedPrecondition({
            reason: orphaned.map((d) => `class "${d.classKey}" is deployed by "${d.key}"`).join("; ") +
              "; delete those deployments before removing the class",
          })
        }
        const now = yield* Clock.currentTimeMillis
        const next: Package = { ...pkg, revision: 0, createdAt: current.value.createdAt ?? now, updatedAt: now }
        const written = yield* collection.update(pkg.name, next, expected).pipe(
          Effect.catchTag("VersionConflict", (e) => Effect.fail(renamed(e, "package"))),
        )
        yield* deployments.packageUpdated(next)
        return withRevision(written)
      })

      const all = orUnavailable(listAll(collection.list)).pipe(
        Effect.map((items) => items.map(withRevision)),
        Effect.catchTag("ValidationError", (e) => Effect.die(e)),
      )

      const scan = (
        options: { after?: string | undefined; prefix?: string | undefined; limit: number; maxBytes: number },
      ) =>
        orUnavailable(collection.list(options)).pipe(
          Effect.map((page) => ({
            items: page.items.map(withRevision),
            more: page.nextCursor !== undefined,
            bytes: page.bytes,
          })),
          // Arguments are the caller's own (a name, a positive limit and budget): a refusal is a bug.
          Effect.catchTag("ValidationError", (e) => Effect.die(e)),
        )

      const remove = tracedFn("Packages.delete")(function*(name: string, cascade: boolean) {
        yield* Effect.annotateCurrentSpan({ "oprc.package": name })
        const current = yield* read(name)
        const dependents = (yield* all).filter((p) => p.dependencies.some((d) => d.name === name)).map((p) => p.name)
        if (dependents.length > 0) {
          return yield* new FailedPrecondition({
            reason: `package "${name}" is a dependency of ${dependents.map((d) => `"${d}"`).join(", ")}`,
          })
        }
        const deployed = yield* deployments.ofPackage(name)
        if (deployed.length > 0 && !cascade) {
          return yield* new FailedPrecondition({
            reason: `package "${name}" has deployments (${
              deployed.map((d) => d.key).join(", ")
            }); delete them first or pass cascade=true`,
          })
        }
        yield* Effect.forEach(
          deployed,
          (d) => deployments.delete(d.key).pipe(Effect.catchTag("NotFound", () => Effect.void)),
          { discard: true },
        )
        yield* collection.delete(name, current.revision)
        yield* Effect.logInfo(
          `package ${name} deleted${
            deployed.length > 0
              ? ` with deployments ${deployed.map((d) => d.key).join(", ")}`
              : ""
          }`,
        )
        return deployed.map((d) => d.key)
      })

      const list = tracedFn("Packages.list")(function*(q: PackageQuery) {
        const limit = yield* pageLimit(q.limit)
        const pattern = glob(q.namePattern ?? "")
        const tags = (q.tags ?? []).filter((t) => t !== "")
        const page = yield* filteredPage(
          collection.list,
          { prefix: pattern.prefix, limit, cursor: q.cursor },
          (v) => pattern.test(v.key) && tags.every((t) => v.value.metadata.tags.includes(t)),
        )
        return { items: page.items.map(withRevision), nextCursor: page.nextCursor, bytes: page.bytes }
      })

      return {
        create: (pkg) => orUnavailable(create(pkg)),
        get: (name) => orUnavailable(Effect.map(read(name), withRevision)),
        list: (q) => orUnavailable(list(q)),
        update: (pkg, expected, force) => orUnavailable(update(pkg, expected, force)),
        delete: (name, cascade) => orUnavailable(remove(name, cascade)),
        all,
        scan,
      }
    }),
  )
}
