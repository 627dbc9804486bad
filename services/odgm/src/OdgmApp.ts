import { Effect, Layer } from "effect"
import { ObjectLimits } from "@oprc/models"
import { type RestRoute, serve, serverOptions } from "@oprc/rpc"
import { Access, makeAccess } from "./access/Access.ts"
import { AsyncInvocations } from "./invocation/AsyncInvocations.ts"
import { CollectionRegistry } from "./collections/CollectionRegistry.ts"
import type { OdgmConfig } from "./config.ts"
import { Invoker } from "./invocation/Invoker.ts"
import { ObjectGateway } from "./objects/ObjectGateway.ts"
import { ObjectLocks } from "./objects/ObjectLocks.ts"
import { Outbox } from "./events/Outbox.ts"
import { adminRoutes } from "./rest/admin.ts"
import { invokeRoutes } from "./rest/invokes.ts"
import { objectRoutes } from "./rest/objects.ts"
import { FunctionClient } from "./invocation/FunctionClient.ts"
import { rpcServices } from "./rpc/services.ts"
import { storageLayer } from "./storage/storageLayer.ts"
import { TriggerDispatcher } from "./events/TriggerDispatcher.ts"

/** Every ODGM service over the configured store, built once. */
export const OdgmServices = (config: OdgmConfig) => {
  const stored = Layer.mergeAll(Outbox.layer, CollectionRegistry.layer({ refreshMs: config.collections.refreshMs }))
    .pipe(
      Layer.provideMerge(storageLayer(config.storage)),
    )
  const local = Layer.mergeAll(
    ObjectLocks.layer,
    FunctionClient.layer(config.invocation),
    Access.layer(config.auth, config.internalToken),
  )
  const objects = ObjectGateway.layer(config.invocation).pipe(Layer.provideMerge(stored), Layer.provideMerge(local))
  const invoker = Invoker.layer(config.invocation).pipe(Layer.provideMerge(objects))
  const jobs = AsyncInvocations.layer(config.invocation).pipe(Layer.provideMerge(invoker))
  return TriggerDispatcher.layer(config.triggers, config.invocation.timeoutMs).pipe(Layer.provideMerge(jobs))
}

/** Collections from `collections.file`, applied before the server starts answering. */
const startup = (config: OdgmConfig) =>
  Layer.effectDiscard(
    config.collections.file === undefined ? Effect.void : CollectionRegistry.loadFile(config.collections.file),
  )

/** oprc-odgm on one port: ObjectService, InvocationService, CollectionService, EventService and the REST gateway. */
export const OdgmApp = (config: OdgmConfig) => {
  const services = OdgmServices(config)
  const rest: ReadonlyArray<RestRoute<Layer.Success<ReturnType<typeof OdgmServices>>>> = [
    ...objectRoutes,
    ...invokeRoutes,
    ...adminRoutes,
  ]
  return serve(serverOptions("oprc-odgm", config.server), {
    rpc: rpcServices,
    rest,
    authorize: makeAccess(config.auth, config.internalToken).authorize,
  }).pipe(
    Layer.provide(Layer.merge(services, startup(config).pipe(Layer.provide(services)))),
    // Read by entry and collection validation everywhere (REST, RPC, function replies, collection files).
    Layer.provide(Layer.succeed(ObjectLimits, config.limits)),
  )
}
