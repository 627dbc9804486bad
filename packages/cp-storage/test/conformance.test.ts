import { afterAll, beforeAll, describe } from "bun:test"
import { join } from "node:path"
import { Layer } from "effect"
import { type EtcdServer, makeTempDir, removeTempDir, startEtcd } from "@oprc/test-harness"
import { ControlPlaneStore } from "../src/index.ts"
import { conformance } from "./conformance.ts"

describe("memory", () => {
  conformance({ backend: "memory", persistent: false, layer: () => ControlPlaneStore.layerMemory.pipe(Layer.fresh) })
})

describe("sqlite", () => {
  const dir = makeTempDir("cp-storage-sqlite")
  afterAll(() => removeTempDir(dir))
  // A nested folder checks that the layer creates it.
  conformance({
    backend: "sqlite",
    persistent: true,
    layer: (name) => ControlPlaneStore.layerSqlite({ path: join(dir, name, "pm.db") }),
  })
})

describe("etcd", () => {
  let etcd: EtcdServer | undefined
  const endpoints = () => {
    if (etcd === undefined) throw new Error("etcd did not start")
    return etcd.endpoints
  }
  beforeAll(async () => {
    etcd = await startEtcd()
  })
  afterAll(() => etcd?.stop())
  // One server; each test gets its own prefix, and the same name reopens the same prefix.
  conformance({
    backend: "etcd",
    persistent: true,
    layer: (name) => ControlPlaneStore.layerEtcd({ endpoints: endpoints(), prefix: `/conformance/${name}` }),
  })
})
