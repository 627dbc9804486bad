import { mkdirSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { Effect, Layer } from "effect"
import { StorageError } from "@oprc/models"
import { ControlPlaneStore } from "./DocumentStore.ts"

/** The storage section every control-plane service (PM, CRM) reads from its config. */
export interface StorageChoice {
  readonly kind: "sqlite" | "etcd" | "memory"
  readonly sqlite: { readonly path: string }
  readonly etcd: { readonly endpoints: ReadonlyArray<string>; readonly prefix: string }
}

const ensureDir = (file: string) =>
  Effect.try({
    try: () => mkdirSync(dirname(resolve(file)), { recursive: true }),
    catch: (e) =>
      new StorageError({ reason: `cannot create the directory of ${file}: ${String(e)}`, retryable: false }),
  })

/** The backend chosen by configuration: SQLite (the file's directory is created), etcd, or memory. */
export const configuredStore = (config: StorageChoice): Layer.Layer<ControlPlaneStore, StorageError> => {
  switch (config.kind) {
    case "memory":
      return ControlPlaneStore.layerMemory
    case "etcd":
      return ControlPlaneStore.layerEtcd({ endpoints: config.etcd.endpoints, prefix: config.etcd.prefix })
    case "sqlite":
      return Layer.unwrap(
        Effect.as(ensureDir(config.sqlite.path), ControlPlaneStore.layerSqlite({ path: config.sqlite.path })),
      )
  }
}
