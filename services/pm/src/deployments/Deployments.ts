import { Clock, Context, Effect, Layer, Option, Stream } from "effect"
import { type Change, StorageError, type Versioned } from "@oprc/cp-storage"
import {
  AlreadyExists,
  type Deployment,
  FailedPrecondition,
  type FieldViolation,
  NotFound,
  orUnavailable,
  type Package,
  storageUnavailable,
  type Unavailable,
  ValidationError,
  VersionConflict,
} from "@oprc/models"
import { tracedFn } from "@oprc/observability"
import { ClusterRegistry } from "../clusters/ClusterRegistry"
import type { OrchestrationConfig } from "../config"
import { filteredPage, listAll, pageLimit } from "../storage/paging"
import { PmStore, renamed } from "../storage/PmStore"
import { place } from "./placement"
import { Reconciler } from "./Reconciler"
import { type DeploymentRecord, deploymentView, resolveClass, sameDesiredState } from "./records"
import { initialStatus, statusFingerprint } from "./status"

export interface DeploymentQuery {
  readonly packageName?: string | undefined
  readonly classKey?: string | undefined
  readonly cluster?: string | undefined
  readonly limit?: number | undefined
  readonly cursor?: string | undefined
}

type Errors = ValidationError | Unavailable

/** Deployments: validated against their package, placed, stored first, then dispatched by the Reconciler. */
export class Deployments extends Context.Service<Deployments, {
  readonly create: (input: Deployment) => Effect.Effect<Deployment, Errors | AlreadyExists>
  readonly get: (key: string) => Effect.Effect<Deployment, NotFound | Unavailable>
  readonly list: (
    query: DeploymentQuery,
    /** `bytes`: the stored JSON the page read (see filteredPage), what it may weigh at most. */
  ) => Effect.Effect<{ items: ReadonlyArray<Deployment>; nextCursor: string | undefined; bytes: number }, Errors>
  /** expectedRevision 0/undefined = unconditional. */
  readonly update: (
    input: Deployment,
    expectedRevision?: number,
  ) => Effect.Effect<Deployment, Errors | NotFound | VersionConflict | FailedPrecondition>
  /** Marks the deployment for deletion; units are removed from every cluster, then the record. */
  readonly delete: (key: string) => Effect.Effect<Deployment, NotFound | Unavailable>
  /** The deployment now and after every change; ends once it is deleted. */
  readonly watch: (key: string) => Stream.Stream<Deployment, NotFound | Unavailable>
  /** The deployments of a package that are not being deleted. */
  readonly ofPackage: (
    name: string,
  ) => Effect.Effect<ReadonlyArray<{ readonly key: string; readonly classKey: string }>, Unavailable>
  /** Rolls a package's new version out to its deployments (a new generation where units change). */
  readonly packageUpdated: (pkg: Package) => Effect.Effect<void, Unavailable>
}>()("pm/Deployments") {
  static readonly layer = (options: OrchestrationConfig) =>
    Layer.effect(Deployments)(
      Effect.gen(function*() {
        const store = yield* PmStore
        const registry = yield* ClusterRegistry
        const reconciler = yield* Reconciler

        // One view per (desired state, status) revision pair, so reads of an unchanged deployment
        // return the same object and what is derived from it (proto, JSON, bytes) is built once
        // (storage/answers.ts). Both halves are the store's own objects per revision; a
        // deployment without a status yet shows one made now, and is not kept.
        const views = new WeakMap<Versioned<DeploymentRecord>, { readonly status: object; readonly view: Deployment }>()
        const view = (v: Versioned<DeploymentRecord>) =>
          Effect.gen(function*() {
            const doc = yield* store.statuses.get(v.key)
            const hit = Option.isSome(doc) ? views.get(v) : undefined
            if (hit !== undefined && Option.isSome(doc) && hit.status === doc.value) return hit.view
            const now = yield* Clock.currentTimeMillis
            const status = Option.isSome(doc) ? doc.value.value : initialStatus(v.value, now)
            const shown = v.value.deleting && status.phase !== "Deleting"
              ? {
                ...status,
                phase: "Deleting" as const,
                reason: "DeletionRequested",
                message: "units are being removed",
              }
              : status
            const built = deploymentView(v.value, v.revision, shown)
            if (Option.isSome(doc)) views.set(v, { status: doc.value, view: built })
            return built
          })

        const read = (key: string) =>
          Effect.flatMap(store.deployments.get(key), (o) =>
            Option.isSome(o)
              ? Effect.succeed(o.value)
              : Effect.fail(new NotFound({ resource: "deployment", name: key })))

        /** Validates a spec against its package and the clusters, and builds the record to store. */
        const prepare = (input: Deployment, previous: DeploymentRecord | undefined) =>
          Effect.gen(function*() {
            const pkg = yield* store.packages.get(input.packageName)
            if (Option.isNone(pkg)) {
              return yield* ValidationError.single("packageName", `package "${input.packageName}" does not exist`)
            }
            const resolved = resolveClass(pkg.value.value, input.classKey)
            if (resolved === undefined) {
              return yield* ValidationError.single(
                "classKey",
                `class "${input.classKey}" is not defined in package "${input.packageName}"`,
              )
            }
            const names = new Set(registry.names)
            const violations: Array<FieldViolation> = Object.keys(input.clusterTemplates).flatMap((c) =>
              names.has(c)
                ? []
                : [{ path: `clusterTemplates[${JSON.stringify(c)}]`, message: `cluster "${c}" is not configured` }]
            )
            if (violations.length > 0) return yield* new ValidationError({ violations })
            const keepPlacement = previous !== undefined &&
              previous.deployment.targetClusters.join(",") === input.targetClusters.join(",") &&
              previous.deployment.nfr.availability === input.nfr.availability
            const placed = keepPlacement ? previous.deployment.placedClusters : yield* placement(input)
            const now = yield* Clock.currentTimeMillis
            const record: DeploymentRecord = {
              deployment: {
                key: input.key,
                packageName: input.packageName,
                classKey: input.classKey,
                targetClusters: input.targetClusters,
                nfr: input.nfr,
                enforcement: input.enforcement,
                clusterTemplates: input.clusterTemplates,
                odgm: input.odgm,
                revision: 0,
                createdAt: previous?.deployment.createdAt ?? now,
                updatedAt: now,
                placedClusters: placed,
              },
              packageVersion: pkg.value.value.version,
              cls: resolved.cls,
              functions: resolved.functions,
              generation: previous === undefined ? 1 : previous.generation,
              deleting: false,
            }
            if (previous !== undefined && !sameDesiredState(previous, record)) {
              return { ...record, generation: previous.generation + 1 }
            }
            return record
          })

        const placement = (input: Deployment) =>
          Effect.gen(function*() {
            const clusters = yield* registry.list
            const result = place(
              input,
              clusters.map((c) => ({
                name: c.name,
                availability: c.availability,
                reachable: c.health === "Healthy" || c.health === "Degraded",
              })),
            )
            return result._tag === "Placed" ? result.clusters : yield* result.error
          })

        const dispatched = (key: string) =>
          Effect.andThen(reconciler.dispatch(key, options.dispatchWaitMs), Effect.flatMap(read(key), view))

        // Each change runs inTrace: the pass that applies it is in the request's trace even when
        // the storage watch queued that pass before dispatch asked for one.
        const create = tracedFn("Deployments.create")(function*(input: Deployment) {
          yield* Effect.annotateCurrentSpan({ "oprc.deployment": input.key })
          return yield* reconciler.inTrace(input.key, created(input))
        })

        const created = (input: Deployment) =>
          Effect.gen(function*() {
            const record = yield* prepare(input, undefined)
            yield* store.deployments.create(input.key, record).pipe(
              Effect.catchTag(
                "AlreadyExists",
                () => Effect.fail(new AlreadyExists({ resource: "deployment", name: input.key })),
              ),
            )
            // A package deleted between the check above and the create: undo, rather than leave an orphan.
            if (Option.isNone(yield* store.packages.get(input.packageName))) {
              yield* store.deployments.delete(input.key).pipe(Effect.catchTag("VersionConflict", () => Effect.void))
              return yield* ValidationError.single(
                "packageName",
                `package "${input.packageName}" was deleted meanwhile`,
              )
            }
            yield* Effect.logInfo(
              `deployment ${input.key} accepted: ${input.packageName}.${input.classKey} on ${
                record.deployment.placedClusters.join(", ")
              }`,
            )
            return yield* dispatched(input.key).pipe(
              // Deleted again already (by another client): say what was accepted.
              Effect.catchTag(
                "NotFound",
                () =>
                  Effect.succeed(deploymentView(record, 0n, initialStatus(record, record.deployment.createdAt ?? 0))),
              ),
            )
          })

        const update = tracedFn("Deployments.update")(function*(input: Deployment, expectedRevision?: number) {
          yield* Effect.annotateCurrentSpan({ "oprc.deployment": input.key })
          const current = yield* read(input.key)
          if (current.value.deleting) {
            return yield* new FailedPrecondition({ reason: `deployment "${input.key}" is being deleted` })
          }
          const expected = expectedRevision === undefined || expectedRevision === 0
            ? current.revision
            : BigInt(expectedRevision)
          if (expected !== current.revision) {
            return yield* new VersionConflict({
              resource: "deployment",
              name: input.key,
              expected: String(expected),
              actual: String(current.revision),
            })
          }
          const next = yield* prepare(input, current.value)
          return yield* reconciler.inTrace(
            input.key,
            store.deployments.update(input.key, next, expected).pipe(
              Effect.catchTag("VersionConflict", (e) => Effect.fail(renamed(e, "deployment"))),
              Effect.andThen(dispatched(input.key)),
            ),
          )
        })

        const markDeleting = (key: string): Effect.Effect<Versioned<DeploymentRecord>, NotFound | Unavailable> =>
          orUnavailable(Effect.gen(function*() {
            const current = yield* read(key)
            if (current.value.deleting) return current
            const next = { ...current.value, deleting: true, generation: current.value.generation + 1 }
            return yield* store.deployments.update(key, next, current.revision)
          })).pipe(
            // Someone else changed it meanwhile: read again and retry.
            Effect.catchTag("VersionConflict", () => markDeleting(key)),
          )

        const remove = tracedFn("Deployments.delete")(function*(key: string) {
          yield* Effect.annotateCurrentSpan({ "oprc.deployment": key })
          return yield* reconciler.inTrace(
            key,
            Effect.gen(function*() {
              const marked = yield* markDeleting(key)
              yield* Effect.logInfo(`deployment ${key}: deletion requested`)
              return yield* dispatched(key).pipe(Effect.catchTag("NotFound", () => view(marked)))
            }),
          )
        })

        const list = tracedFn("Deployments.list")(function*(q: DeploymentQuery) {
          const limit = yield* pageLimit(q.limit)
          const page = yield* filteredPage(store.deployments.list, { limit, cursor: q.cursor }, ({ value: r }) =>
            (q.packageName === undefined || q.packageName === "" || r.deployment.packageName === q.packageName) &&
            (q.classKey === undefined || q.classKey === "" || r.deployment.classKey === q.classKey) &&
            (q.cluster === undefined || q.cluster === "" || r.deployment.placedClusters.includes(q.cluster)))
          const items = yield* Effect.forEach(page.items, view, { concurrency: 16 })
          return { items, nextCursor: page.nextCursor, bytes: page.bytes }
        })

        const watch = (key: string): Stream.Stream<Deployment, NotFound | Unavailable> => {
          const mine = <A>(c: Change<A>) =>
            (c._tag === "Put" ? c.item.key : c.key) === key
          const current = store.deployments.get(key).pipe(
            Effect.flatMap((
              o,
            ) => (Option.isSome(o)
              ? Effect.map(view(o.value), Option.some)
              : Effect.succeed(Option.none<Deployment>()))
            ),
          )
          // Subscribe before reading, so no change between the read and the stream is missed.
          return Stream.unwrap(orUnavailable(Effect.gen(function*() {
            const statuses = yield* store.statuses.subscribe()
            const specs = yield* store.deployments.subscribe()
            const first = yield* Effect.flatMap(read(key), view)
            const changes = Stream.merge(statuses.pipe(Stream.filter(mine)), specs.pipe(Stream.filter(mine))).pipe(
              Stream.mapEffect(() =>
                current
              ),
            )
            return Stream.concat(Stream.make(Option.some(first)), changes).pipe(
              Stream.takeWhile((o): o is Option.Some<Deployment> => Option.isSome(o)),
              Stream.map((o) => o.value),
              Stream.changesWith((a, b) =>
                a.revision === b.revision && statusFingerprint(a.status!) === statusFingerprint(b.status!)
              ),
              Stream.mapError((e): NotFound | Unavailable => (e instanceof StorageError ? storageUnavailable(e) : e)),
            )
          })))
        }

        const ofPackage = (name: string) =>
          orUnavailable(listAll(store.deployments.list)).pipe(
            // Cursors here are the store's own: a rejected one is a bug.
            Effect.catchTag("ValidationError", (e) => Effect.die(e)),
            Effect.map((all) =>
              all.filter((d) => d.value.deployment.packageName === name && !d.value.deleting).map((d) => ({
                key: d.key,
                classKey: d.value.deployment.classKey,
              }))
            ),
          )

        const refresh = (key: string, pkg: Package): Effect.Effect<void, Unavailable> =>
          orUnavailable(Effect.gen(function*() {
            const current = yield* store.deployments.get(key)
            if (Option.isNone(current) || current.value.value.deleting) return
            const record = current.value.value
            const resolved = resolveClass(pkg, record.deployment.classKey)
            if (resolved === undefined) return
            const next = { ...record, packageVersion: pkg.version, cls: resolved.cls, functions: resolved.functions }
            if (sameDesiredState(record, next) && record.packageVersion === pkg.version) return
            const bumped = sameDesiredState(record, next) ? next : { ...next, generation: record.generation + 1 }
            yield* store.deployments.update(key, bumped, current.value.revision)
            yield* reconciler.enqueue(key)
          })).pipe(Effect.catchTags({ VersionConflict: () => refresh(key, pkg), NotFound: () => Effect.void }))

        return {
          create: (input) => orUnavailable(create(input)),
          get: (key) => orUnavailable(Effect.flatMap(read(key), view)),
          list: (q) => orUnavailable(list(q)),
          update: (input, expected) => orUnavailable(update(input, expected)),
          delete: (key) => orUnavailable(remove(key)),
          watch,
          ofPackage,
          packageUpdated: (pkg) =>
            Effect.flatMap(
              ofPackage(pkg.name),
              (ds) => Effect.forEach(ds, (d) => refresh(d.key, pkg), { discard: true }),
            ),
        }
      }),
    )
}
