import { Effect } from "effect"
import { odgmv1 } from "@oprc/proto"
import { checkObjectWrite } from "@oprc/models"
import { rpcService } from "@oprc/rpc"
import { ObjectGateway } from "../objects/ObjectGateway.ts"
import { Outbox } from "../events/Outbox.ts"
import { entriesFromProto, objectToProto, summaryToProto, triggersFromProto } from "./convert.ts"

const address = (r: { readonly cls: string; readonly partition?: number | undefined; readonly id: string }) => ({
  cls: r.cls,
  partition: r.partition,
  id: r.id,
})

/** oprc.odgm.v1.ObjectService: the same operations as the REST object routes. */
export const objectService = rpcService(
  odgmv1.ObjectService,
  Effect.gen(function*() {
    const objects = yield* ObjectGateway
    const outbox = yield* Outbox
    return {
      getObject: (req: odgmv1.GetObjectRequest) =>
        Effect.map(objects.get(address(req)), (o) => ({ object: objectToProto(o) })),

      putObject: (req: odgmv1.PutObjectRequest) =>
        Effect.gen(function*() {
          // Counts and key names before decoding; entry depth is bounded while decoding (valueFromProto).
          yield* checkObjectWrite({ entries: req.entries, triggers: req.triggers, protoValues: true })
          const id = req.id === "" ? yield* outbox.newId("obj") : req.id
          const o = yield* objects.put(address({ ...req, id }), {
            entries: yield* entriesFromProto(req.entries),
            // proto3 cannot tell an empty list from an absent one: empty keeps the object's triggers.
            triggers: req.triggers.length === 0 ? undefined : yield* triggersFromProto(req.triggers),
            expectedVersion: req.expectedVersion,
            createOnly: req.createOnly,
          })
          return { object: objectToProto(o) }
        }),

      mergeObject: (req: odgmv1.MergeObjectRequest) =>
        Effect.gen(function*() {
          yield* checkObjectWrite({
            entries: req.entries,
            delete: req.deleteKeys,
            deletePath: "deleteKeys",
            protoValues: true,
          })
          const o = yield* objects.merge(address(req), {
            set: yield* entriesFromProto(req.entries),
            remove: req.deleteKeys,
            expectedVersion: req.expectedVersion,
          })
          return { object: objectToProto(o) }
        }),

      deleteObject: (req: odgmv1.DeleteObjectRequest) =>
        objects.remove(address(req), req.expectedVersion).pipe(
          Effect.as({ existed: true }),
          Effect.catchTag(
            "NotFound",
            (e) => (e.resource === "object" ? Effect.succeed({ existed: false }) : Effect.fail(e)),
          ),
        ),

      listObjects: (req: odgmv1.ListObjectsRequest) =>
        Effect.map(
          objects.list({
            cls: req.cls,
            partition: req.partition,
            prefix: req.prefix || undefined,
            limit: req.limit || 100,
            cursor: req.cursor || undefined,
          }),
          (page) => ({
            objects: page.items.map(summaryToProto),
            fullObjects: req.withEntries ? page.items.map(objectToProto) : [],
            nextCursor: page.nextCursor ?? "",
          }),
        ),
    }
  }),
)
