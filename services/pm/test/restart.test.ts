import { afterAll, describe, expect, test } from "bun:test"
import { freePort, makeTempDir, removeTempDir, type ServerProcess } from "@oprc/test-harness"
import { CrmTestServer } from "../../../test/crm-test-server"
import { fastOrchestration, http, shopYaml, spawnPm, waitForPhase, writeConfig } from "./support"

const dir = makeTempDir("pm-restart")
const procs: Array<ServerProcess> = []
let crm: CrmTestServer | undefined

afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill9()))
  await crm?.close()
  removeTempDir(dir)
})

describe("durable orchestration across a PM crash", () => {
  test(
    "SIGKILL right after accepting a deployment whose CRM is down; after a restart and the CRM's return it runs, with no user action",
    async () => {
      // Reserve the CRM's port, then take it down: the cluster is configured but unreachable.
      crm = await CrmTestServer.start({ name: "edge", readyDelayMs: 100 })
      await crm.down()
      const port = await freePort()
      const config = await writeConfig(dir, {
        storage: { kind: "sqlite", sqlite: { path: `${dir}/pm.sqlite` } },
        clusters: [{ name: "edge", url: crm.url }],
        orchestration: { ...fastOrchestration, dispatchWaitMs: 300 },
        telemetry: { log: { level: "warn" } },
      })
      const first = await spawnPm({ dir, port, args: ["--config", config] })
      procs.push(first)
      const api = http(`http://127.0.0.1:${port}`)
      expect((await api.post("/api/v1/packages", await shopYaml(), "application/yaml")).status).toBe(201)
      const accepted = await api.post("/api/v1/deployments", {
        key: "orders",
        packageName: "shop",
        classKey: "Order",
        targetClusters: ["edge"],
      })
      expect(accepted.status).toBe(201)
      expect(accepted.body.status.phase).toBe("Pending")
      await first.kill9()
      expect(first.alive()).toBe(false)

      const second = await spawnPm({ dir, port, args: ["--config", config] })
      procs.push(second)
      // The accepted deployment survived the crash, still waiting for its cluster.
      const stored = await api.get("/api/v1/deployments/orders")
      expect(stored.status).toBe(200)
      expect(stored.body.status.phase).toBe("Pending")
      expect(crm.applied.length).toBe(0)

      await crm.up()
      const running = await waitForPhase(`http://127.0.0.1:${port}`, "orders", "Running", 20_000)
      expect(running.status.clusters[0].acknowledgedGeneration).toBe(1)
      expect(crm.appliedChanges("orders-edge").length).toBe(1)
      expect(String(crm.units.get("orders-edge")!.unit.cls.key)).toBe("Order")
    },
    60_000,
  )
})
