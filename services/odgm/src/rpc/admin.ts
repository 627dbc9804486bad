import { create } from "@bufbuild/protobuf"
import { timestampFromMs } from "@bufbuild/protobuf/wkt"
import { Effect, Option, Schema } from "effect"
import { collectionFromProto, collectionToProto, protoEnum, type TriggerEvent, ValidationError } from "@oprc/models"
import { odgmv1 } from "@oprc/proto"
import { rpcService } from "@oprc/rpc"
import { CollectionRegistry } from "../collections/CollectionRegistry.ts"
import { OutboxPayload } from "../domain/events.ts"
import type { DeadLetter } from "../storage/ObjectStore.ts"
import { TriggerDispatcher } from "../events/TriggerDispatcher.ts"

/** oprc.odgm.v1.CollectionService: what the CRM calls to create, update and delete collections. */
export const collectionService = rpcService(
  odgmv1.CollectionService,
  Effect.gen(function*() {
    const registry = yield* CollectionRegistry
    return {
      applyCollection: (req: odgmv1.ApplyCollectionRequest) =>
        Effect.gen(function*() {
          if (req.collection === undefined) return yield* ValidationError.single("collection", "is required")
          const c = yield* collectionFromProto(req.collection)
          return { collection: collectionToProto(yield* registry.apply(c)) }
        }),
      getCollection: (req: odgmv1.GetCollectionRequest) =>
        Effect.map(registry.get(req.name), (c) => ({ collection: collectionToProto(c) })),
      listCollections: () => Effect.map(registry.list, (all) => ({ collections: all.map(collectionToProto) })),
      deleteCollection: (req: odgmv1.DeleteCollectionRequest) =>
        Effect.map(registry.remove(req.name, req.purgeObjects), (existed) => ({ existed })),
    }
  }),
)

const decodePayload = Schema.decodeUnknownOption(OutboxPayload)

/** A dead letter as proto: trigger deliveries carry their event and target; async jobs their class and function. */
const deadLetterToProto = (d: DeadLetter): odgmv1.DeadLetter => {
  const payload = Option.getOrUndefined(decodePayload(d.event.payload))
  const common = { id: d.event.id, attempts: d.attempts, lastError: d.error, failedAt: timestampFromMs(d.deadAt) }
  if (payload === undefined) return create(odgmv1.DeadLetterSchema, common)
  if (payload.kind === "invoke") {
    return create(odgmv1.DeadLetterSchema, {
      ...common,
      target: { cls: payload.cls, function: payload.fn, objectId: payload.objectId ?? "" },
    })
  }
  const e = payload.event
  return create(odgmv1.DeadLetterSchema, {
    ...common,
    target: {
      cls: payload.target.cls,
      function: payload.target.fn,
      objectId: payload.target.objectId,
      headers: payload.target.headers,
    },
    event: {
      eventId: e.eventId,
      // The event names its type as the proto enum name ("TRIGGER_EVENT_DATA_CREATE"); unknown: UNSPECIFIED.
      type: protoEnum.triggerEvent.toProto(e.type.replace(/^TRIGGER_EVENT_/, "") as TriggerEvent) ?? 0,
      sourceCls: e.sourceCls,
      sourcePartition: e.sourcePartition,
      sourceObjectId: e.sourceObjectId,
      source: e.source,
      time: timestampFromMs(Date.parse(e.time)),
      invocationId: e.invocationId ?? "",
      status: e.status ?? "",
      output: new Uint8Array(Buffer.from(e.output ?? "", "base64")),
      error: e.error ?? "",
    },
  })
}

/** oprc.odgm.v1.EventService: dead letters, visible and redrivable. */
export const eventService = rpcService(
  odgmv1.EventService,
  Effect.gen(function*() {
    const dispatcher = yield* TriggerDispatcher
    return {
      listDeadLetters: (req: odgmv1.ListDeadLettersRequest) =>
        Effect.gen(function*() {
          if (req.limit > 1000) return yield* ValidationError.single("limit", "must be at most 1000")
          const page = yield* dispatcher.listDeadLetters(req.limit || 100, req.cursor || undefined)
          // The class filter applies to the trigger's target (or the async job's class).
          const items = req.cls === ""
            ? page.items
            : page.items.filter((d) => deadLetterToProto(d).target?.cls === req.cls)
          return { deadLetters: items.map(deadLetterToProto), nextCursor: page.nextCursor ?? "" }
        }),
      redriveDeadLetter: (req: odgmv1.RedriveDeadLetterRequest) => Effect.as(dispatcher.redrive(req.id), {}),
      discardDeadLetter: (req: odgmv1.DiscardDeadLetterRequest) => Effect.as(dispatcher.discard(req.id), {}),
    }
  }),
)
