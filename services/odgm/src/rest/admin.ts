import { Effect, Schema } from "effect"
import { Collection, decodeCollection, NotFound, ValidationError } from "@oprc/models"
import { json, route } from "@oprc/rpc"
import { CollectionRegistry } from "../collections/CollectionRegistry.ts"
import type { DeadLetter } from "../storage/ObjectStore.ts"
import { TriggerDispatcher } from "../events/TriggerDispatcher.ts"
import { boolParam, intParam, readJson } from "./common.ts"

const encodeCollection = Schema.encodeSync(Collection)

/** Event ids ODGM makes ("inv-….d.0", "async.…"); anything else cannot name a dead letter. */
const eventId = (id: string) =>
  /^[A-Za-z0-9._:~-]{1,400}$/.test(id)
    ? Effect.succeed(id)
    : Effect.fail(new NotFound({ resource: "dead letter", name: id.slice(0, 100) }))

const deadLetterJson = (d: DeadLetter) => ({
  id: d.event.id,
  payload: d.event.payload,
  attempts: d.attempts,
  error: d.error,
  failedAt: new Date(d.deadAt).toISOString(),
})

/** Collections (what the CRM does over CollectionService) and dead letters, as REST. */
export const adminRoutes = [
  route("GET", "/api/collections", () =>
    Effect.gen(function*() {
      const all = yield* (yield* CollectionRegistry).list
      return json(200, { collections: all.map((c) => encodeCollection(c)) })
    })),

  route("GET", "/api/collections/:name", (req) =>
    Effect.gen(function*() {
      return json(200, encodeCollection(yield* (yield* CollectionRegistry).get(req.params.name!)))
    })),

  route("PUT", "/api/collections/:name", (req) =>
    Effect.gen(function*() {
      // An administrative write of up to hundreds of functions and triggers: a turn of the event
      // loop between its steps (decode, apply, encode) keeps it from holding other requests.
      const body = yield* readJson(req)
      yield* Effect.yieldNow
      if (body === null || typeof body !== "object" || Array.isArray(body)) {
        return yield* ValidationError.single("", "expected a collection object")
      }
      const named = "name" in body ? body : { ...body, name: req.params.name }
      const c = yield* decodeCollection(named)
      if (c.name !== req.params.name) {
        return yield* ValidationError.single("name", `must match the path (${req.params.name})`)
      }
      yield* Effect.yieldNow
      const applied = yield* (yield* CollectionRegistry).apply(c)
      yield* Effect.yieldNow
      return json(200, encodeCollection(applied))
    })),

  route("DELETE", "/api/collections/:name", (req) =>
    Effect.gen(function*() {
      const existed = yield* (yield* CollectionRegistry).remove(req.params.name!, boolParam(req, "purge"))
      return json(200, { existed })
    })),

  route("GET", "/api/dead-letters", (req) =>
    Effect.gen(function*() {
      const limit = yield* intParam(req, "limit", 100, 1000)
      const page = yield* (yield* TriggerDispatcher).listDeadLetters(
        limit === 0 ? 100 : limit,
        req.query.get("cursor") || undefined,
      )
      return json(200, {
        deadLetters: page.items.map(deadLetterJson),
        ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
      })
    })),

  route("POST", "/api/dead-letters/:id/redrive", (req) =>
    Effect.gen(function*() {
      yield* (yield* TriggerDispatcher).redrive(yield* eventId(req.params.id!))
      return json(200, { redriven: req.params.id })
    })),

  route("DELETE", "/api/dead-letters/:id", (req) =>
    Effect.gen(function*() {
      yield* (yield* TriggerDispatcher).discard(yield* eventId(req.params.id!))
      return json(200, { discarded: req.params.id })
    })),
]
