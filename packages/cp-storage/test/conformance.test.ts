import { afterAll, describe } from "bun:test"
import { join } from "node:path"
import { Layer } from "effect"
import { makeTempDir, removeTempDir } from "@oprc/test-harness"
import { ControlPlaneStore } from "../src/index.ts"
import { conformance } from "./conformance.ts"

describe("memory", () => {
  conformance({ backend: "memory", persistent: false, layer: () => ControlPlaneStore.layerMemory.pipe(Layer.fresh) })
})

describe("sqlite", () => {
  const dir = makeTempDir("cp-storage-sqlite")
  afterAll(() => removeTempDir(dir))
  // A nested folder checks that the layer creates it.
  conformance({ backend: "sqlite", persistent: true, layer: (name) => ControlPlaneStore.layerSqlite({ path: join(dir, name, "pm.db") }) })
})
