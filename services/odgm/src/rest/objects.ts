import { Effect, Schema } from "effect"
import { checkObjectWrite, decodeWith, EntryKey, stepIfLarge, Trigger } from "@oprc/models"
import { json, type RestRequest, route } from "@oprc/rpc"
import { valueFromJson } from "../domain/values.ts"
import type { Entries } from "../domain/types.ts"
import { ObjectGateway } from "../objects/ObjectGateway.ts"
import {
  boolParam,
  createOnly,
  etag,
  expectedVersion,
  intParam,
  objectJson,
  objectResponse,
  parsePartition,
  readJson,
  summaryJson,
} from "./common.ts"

const PutBody = Schema.Struct({
  entries: Schema.Record(EntryKey, Schema.Unknown),
  triggers: Schema.optionalKey(Schema.Array(Trigger)),
})
const MergeBody = Schema.Struct({
  entries: Schema.optionalKey(Schema.Record(EntryKey, Schema.Unknown)),
  delete: Schema.optionalKey(Schema.Array(EntryKey)),
})
const isRecord = (u: unknown): u is Record<string, unknown> => u !== null && typeof u === "object" && !Array.isArray(u)

// Counts, key names and entry depth first (cheap, bounded), then the Schema.
const decodePut = (body: unknown) =>
  Effect.andThen(checkObjectWrite(isRecord(body) ? body : {}), decodeWith(PutBody)(body))
const decodeMerge = (body: unknown) =>
  Effect.andThen(checkObjectWrite(isRecord(body) ? body : {}), decodeWith(MergeBody)(body))

const toEntries = (m: Readonly<Record<string, unknown>>): Entries => {
  const out: Record<string, Entries[string]> = {}
  for (const [k, v] of Object.entries(m)) out[k] = valueFromJson(v)
  return out
}

const address = (req: RestRequest) =>
  Effect.map(
    parsePartition(req.params.partition),
    (partition) => ({ cls: req.params.cls!, partition, id: req.params.id! }),
  )

const base = "/api/class/:cls/:partition/objects"

/**
 * ObjectService over REST (paths of the Rust Oparaca gateway, docs/odgm.md "REST gateway"):
 * GET|PUT|PATCH|DELETE /api/class/{cls}/{partition}/objects/{id} and GET .../objects?prefix&limit&cursor.
 * Writes take `If-Match: "<version>"` (or `?expectedVersion=`); a stale version answers 409.
 */
export const objectRoutes = [
  // The hottest read of the platform: plain steps, no generator.
  route(
    "GET",
    `${base}/:id`,
    (req) =>
      Effect.flatMap(
        address(req),
        (addr) =>
          ObjectGateway.use((gateway) =>
            Effect.map(gateway.get(addr), (o) => objectResponse(200, objectJson(o), etag(o.version)))
          ),
      ),
  ),

  route("PUT", `${base}/:id`, (req) =>
    Effect.gen(function*() {
      const raw = yield* readJson(req)
      yield* stepIfLarge(req.body.length)
      const body = yield* decodePut(raw)
      yield* stepIfLarge(req.body.length)
      const expected = yield* expectedVersion(req)
      const o = yield* (yield* ObjectGateway).put(yield* address(req), {
        entries: toEntries(body.entries),
        triggers: body.triggers,
        expectedVersion: expected,
        createOnly: createOnly(req),
      })
      yield* stepIfLarge(req.body.length)
      return objectResponse(o.version === 1n ? 201 : 200, objectJson(o), etag(o.version))
    })),

  route("PATCH", `${base}/:id`, (req) =>
    Effect.gen(function*() {
      const raw = yield* readJson(req)
      yield* stepIfLarge(req.body.length)
      const body = yield* decodeMerge(raw)
      yield* stepIfLarge(req.body.length)
      const o = yield* (yield* ObjectGateway).merge(yield* address(req), {
        set: toEntries(body.entries ?? {}),
        remove: body.delete ?? [],
        expectedVersion: yield* expectedVersion(req),
      })
      return objectResponse(200, objectJson(o), etag(o.version))
    })),

  route("DELETE", `${base}/:id`, (req) =>
    Effect.gen(function*() {
      yield* (yield* ObjectGateway).remove(yield* address(req), yield* expectedVersion(req))
      return json(200, { deleted: true })
    })),

  route("GET", base, (req) =>
    Effect.gen(function*() {
      const limit = yield* intParam(req, "limit", 100, 1000)
      const page = yield* (yield* ObjectGateway).list({
        cls: req.params.cls!,
        partition: yield* parsePartition(req.params.partition),
        prefix: req.query.get("prefix") ?? undefined,
        limit: limit === 0 ? 100 : limit,
        cursor: req.query.get("cursor") || undefined,
      })
      const withEntries = boolParam(req, "entries")
      return objectResponse(200, {
        objects: page.items.map((o) => (withEntries ? objectJson(o) : summaryJson(o))),
        ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
      })
    })),
]
