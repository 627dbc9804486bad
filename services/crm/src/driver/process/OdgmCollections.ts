import { Context, Effect, Layer, Redacted } from "effect"
import { type Collection, collectionToProto } from "@oprc/models"
import { odgmv1 } from "@oprc/proto"
import { makeClient, type RpcClientError } from "@oprc/rpc"
import type { CrmConfig } from "../../config"

/** ODGM's CollectionService, as the CRM uses it: a unit's class becomes a collection with its function routes. */
export class OdgmCollections extends Context.Service<OdgmCollections, {
  readonly url: string
  /** Creates or replaces the collection (idempotent). */
  readonly apply: (collection: Collection) => Effect.Effect<void, RpcClientError>
  /** Removes the collection's routes and the collection; its objects stay (a redeploy finds them). */
  readonly remove: (name: string) => Effect.Effect<void, RpcClientError>
  /** Succeeds while ODGM answers. */
  readonly ping: Effect.Effect<void, RpcClientError>
}>()("crm/OdgmCollections") {
  static readonly layer = (config: CrmConfig["odgm"]): Layer.Layer<OdgmCollections> =>
    Layer.sync(OdgmCollections)(() => {
      const token = config.token
      const client = makeClient(odgmv1.CollectionService, {
        baseUrl: config.url,
        timeoutMs: config.timeoutMs,
        retry: { maxAttempts: 2, baseDelayMs: 50, maxDelayMs: 250 },
        ...(token === undefined ? {} : { headers: () => ({ authorization: `Bearer ${Redacted.value(token)}` }) }),
      })
      return {
        url: config.url,
        apply: (collection) =>
          client.applyCollection({ collection: collectionToProto(collection) }).pipe(
            Effect.asVoid,
            Effect.withSpan("OdgmCollections.apply", { attributes: { "oprc.collection": collection.name } }),
          ),
        remove: (name) =>
          client.deleteCollection({ name, purgeObjects: false }, { idempotent: true }).pipe(
            Effect.asVoid,
            Effect.catchIf((e) => e.code === "not_found", () => Effect.void),
            Effect.withSpan("OdgmCollections.remove", { attributes: { "oprc.collection": name } }),
          ),
        ping: client.listCollections({}, { timeoutMs: 1000 }).pipe(Effect.asVoid),
      }
    })
}
