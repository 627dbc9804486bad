import { mkdirSync } from "node:fs"
import { dirname } from "node:path"
import { Effect, Layer } from "effect"
import { Health } from "@oprc/observability"
import type { StorageConfig } from "../config.ts"
import { ObjectStoreService, StorageError } from "./ObjectStore.ts"

/** The object store chosen by `storage.kind`, with its readiness check registered for /readyz. */
export const storageLayer = (config: StorageConfig): Layer.Layer<ObjectStoreService, StorageError, Health> => {
  const engine = ((): Layer.Layer<ObjectStoreService, StorageError> => {
    switch (config.kind) {
      case "memory":
        return ObjectStoreService.layerMemory
      case "sqlite":
        return Layer.unwrap(
          Effect.try({
            try: () => {
              mkdirSync(dirname(config.sqlite.path), { recursive: true })
              return ObjectStoreService.layerSqlite({ path: config.sqlite.path })
            },
            catch: (cause) =>
              new StorageError({
                operation: "open",
                reason: `cannot create the directory of ${config.sqlite.path}`,
                retryable: false,
                cause,
              }),
          }),
        )
      case "nats":
        return ObjectStoreService.layerNats({ servers: config.nats.servers, replicas: config.nats.replicas })
    }
  })()
  const readiness = Layer.effectDiscard(
    Effect.gen(function*() {
      const store = yield* ObjectStoreService
      const health = yield* Health
      yield* health.register(`storage-${config.kind}`, store.ready)
    }),
  )
  return readiness.pipe(Layer.provideMerge(engine))
}
