import { Clock, Context, Effect, Layer, Option, Schema } from "effect"
import {
  Collection,
  decodeCollection,
  FailedPrecondition,
  NotFound,
  orUnavailable,
  prefixViolations,
  type Unavailable,
  ValidationError,
} from "@oprc/models"
import { type ConfigIssue, formatIssue, loadConfigFile } from "@oprc/config"
import { tracedFn } from "@oprc/observability"
import { ObjectStoreService } from "../storage/ObjectStore.ts"

/** Collections live in the object store under this class, so every node sharing the store sees them. */
const COLLECTIONS_CLASS = "_odgm.collections"
const ref = (name: string) => ({ cls: COLLECTIONS_CLASS, partition: 0, id: name })

const encode = Schema.encodeSync(Collection)

/**
 * The collections (one per class) this ODGM serves: partition count, function routes, class
 * triggers. Applied by the CRM through CollectionService or from `collections.file`; stored in the
 * object store and cached, re-read every `refreshMs` so other nodes' changes arrive.
 */
export class CollectionRegistry extends Context.Service<CollectionRegistry, {
  readonly apply: (c: Collection) => Effect.Effect<Collection, FailedPrecondition | Unavailable>
  readonly get: (name: string) => Effect.Effect<Collection, NotFound | Unavailable>
  readonly list: Effect.Effect<ReadonlyArray<Collection>, Unavailable>
  readonly remove: (name: string, purgeObjects: boolean) => Effect.Effect<boolean, Unavailable>
}>()("oprc/odgm/CollectionRegistry") {
  static readonly layer = (options: { readonly refreshMs: number }) =>
    Layer.effect(CollectionRegistry)(
      Effect.gen(function*() {
        const store = yield* ObjectStoreService
        const cache = new Map<string, { readonly value: Collection | undefined; readonly at: number }>()

        const read = (name: string) =>
          Effect.gen(function*() {
            const stored = yield* store.get(ref(name))
            if (Option.isNone(stored)) return undefined
            const spec = stored.value.entries.spec
            if (spec === undefined || spec._tag !== "Json") return undefined
            return yield* decodeCollection(spec.value).pipe(Effect.orDie)
          })

        const found = (name: string, value: Collection | undefined) =>
          value === undefined ? Effect.fail(new NotFound({ resource: "class", name })) : Effect.succeed(value)
        // Read on every object call: a cache hit is one step (no generator), a miss reads the store.
        const get = (name: string): Effect.Effect<Collection, NotFound | Unavailable> =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            const hit = cache.get(name)
            // Negative answers are cached briefly only: a collection created on another node shows up fast.
            if (hit !== undefined && now - hit.at < (hit.value === undefined ? 250 : options.refreshMs)) {
              return found(name, hit.value)
            }
            return Effect.flatMap(orUnavailable(read(name)), (value) => {
              cache.set(name, { value, at: now })
              return found(name, value)
            })
          })

        const listAll = Effect.gen(function*() {
          const out: Array<Collection> = []
          let cursor: string | undefined
          do {
            const page = yield* store.list({
              cls: COLLECTIONS_CLASS,
              limit: 1000,
              ...(cursor === undefined ? {} : { cursor }),
            })
            for (const o of page.items) {
              const spec = o.entries.spec
              if (spec?._tag === "Json") out.push(yield* decodeCollection(spec.value).pipe(Effect.orDie))
            }
            cursor = page.nextCursor
          } while (cursor !== undefined)
          return out
        })

        const refresh = Effect.gen(function*() {
          const all = yield* listAll
          const now = yield* Clock.currentTimeMillis
          cache.clear()
          for (const c of all) cache.set(c.name, { value: c, at: now })
        })
        yield* refresh.pipe(
          Effect.catchCause((cause) => Effect.logWarning("cannot refresh collections", cause)),
          Effect.delay(options.refreshMs),
          Effect.forever,
          Effect.forkScoped,
        )

        return {
          apply: tracedFn("CollectionRegistry.apply")(function*(c: Collection) {
            const existing = yield* orUnavailable(store.get(ref(c.name)))
            const old = Option.isSome(existing) ? yield* orUnavailable(read(c.name)) : undefined
            if (old !== undefined && old.partitionCount !== c.partitionCount) {
              return yield* new FailedPrecondition({
                reason:
                  `collection "${c.name}" has ${old.partitionCount} partitions; the partition count cannot change (delete the collection first)`,
              })
            }
            yield* orUnavailable(
              store.commit({
                ref: ref(c.name),
                next: { entries: { spec: { _tag: "Json", value: encode(c) } }, triggers: [] },
                expectedVersion: undefined,
                events: [],
              }).pipe(
                Effect.catchTag("VersionConflict", Effect.die), // unconditional writes cannot conflict
              ),
            )
            cache.set(c.name, { value: c, at: yield* Clock.currentTimeMillis })
            return c
          }),
          get,
          list: orUnavailable(listAll),
          remove: tracedFn("CollectionRegistry.remove")(function*(name: string, purgeObjects: boolean) {
            const existing = yield* orUnavailable(store.get(ref(name)))
            if (purgeObjects) yield* orUnavailable(store.deleteClass(name))
            if (Option.isSome(existing)) {
              yield* orUnavailable(
                store.commit({ ref: ref(name), next: null, expectedVersion: undefined, events: [] }).pipe(
                  Effect.catchTag("VersionConflict", Effect.die),
                ),
              )
            }
            cache.set(name, { value: undefined, at: yield* Clock.currentTimeMillis })
            return Option.isSome(existing)
          }),
        }
      }),
    )

  /** Applies every collection of a YAML/JSON file (`collections: [...]`) at start-up. */
  static readonly loadFile = (file: string) =>
    Effect.gen(function*() {
      const registry = yield* CollectionRegistry
      const parsed = yield* loadConfigFile(file).pipe(
        Effect.mapError((issues: ReadonlyArray<ConfigIssue>) =>
          new ValidationError({ violations: issues.map((i) => ({ path: file, message: formatIssue(i) })) })
        ),
      )
      const list = parsed.data.collections
      if (!Array.isArray(list)) {
        return yield* ValidationError.single(`${file}: collections`, "expected a list of collections")
      }
      const decoded = yield* Effect.forEach(list, (c, i) =>
        decodeCollection(c).pipe(Effect.mapError(prefixViolations(`${file}: collections[${i}]`))))
      for (const c of decoded) {
        yield* registry.apply(c)
      }
      yield* Effect.logInfo(`applied ${decoded.length} collection(s) from ${file}`)
    })
}
