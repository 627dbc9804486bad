import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { pmv1 } from "@oprc/proto"
import { clustersOf, connectJson, eventually, http, shopYaml, startCrms, startPm, waitForPhase } from "./support"

let pm: Awaited<ReturnType<typeof startPm>>
let crms: Awaited<ReturnType<typeof startCrms>>
let api: ReturnType<typeof http>
const crm = (name: string) => crms.find((c) => c.name === name)!

beforeAll(async () => {
  crms = await startCrms(["east", "west", "north"])
  await crm("north").down()
  pm = await startPm({ clusters: clustersOf(crms) })
  api = http(pm.url)
  expect((await api.post("/api/v1/packages", await shopYaml(), "application/yaml")).status).toBe(201)
})
afterAll(async () => {
  await pm.stop()
  await Promise.all(crms.map((c) => c.close()))
})

const cluster = async (name: string) => (await api.get(`/api/v1/clusters/${name}`)).body
const clusterEntry = (d: any, name: string) => d.status.clusters.find((c: any) => c.cluster === name)
const metric = async (line: RegExp) => {
  const text = await (await fetch(`${pm.url}/metrics`)).text()
  return text.split("\n").find((l) => line.test(l))
}

describe("one CRM of three down", () => {
  test("its cluster is Pending with the reason, the other two run, the deployment is Degraded; the breaker opens", async () => {
    const created = await api.post("/api/v1/deployments", {
      key: "orders",
      packageName: "shop",
      classKey: "Order",
      targetClusters: ["east", "west", "north"],
    })
    expect(created.status).toBe(201)
    const degraded = await waitForPhase(pm.url, "orders", "Degraded")
    await eventually("east and west running", async () => {
      const d = (await api.get("/api/v1/deployments/orders")).body
      return clusterEntry(d, "east").phase === "Running" && clusterEntry(d, "west").phase === "Running" ? d : undefined
    })
    const north = clusterEntry(degraded, "north")
    expect(north.phase).toBe("Pending")
    expect(["CrmUnavailable", "CircuitOpen"]).toContain(north.reason)
    expect(north.acknowledgedGeneration).toBe(0)
    expect(degraded.status.reason).toBe("ClustersNotRunning")
    expect(degraded.status.message).toContain("north: Pending")

    const c = await eventually("breaker open", async () => {
      const c = await cluster("north")
      return c.breaker === "open" ? c : undefined
    })
    expect(c.health).toBe("Unreachable")
    expect(c.consecutiveFailures).toBeGreaterThan(0)
    const viaConnect = await connectJson(pm.url, "oprc.pm.v1.ClusterService/GetCluster", { name: "north" })
    expect(viaConnect.body.cluster.breaker).toBe(
      pmv1.BreakerState[pmv1.BreakerState.OPEN].replace(/^/, "BREAKER_STATE_"),
    )
    expect(await metric(/^oprc_pm_cluster_breaker_state\{cluster="north"\} 2/)).toBeDefined()
    expect(await metric(/^oprc_pm_crm_call_errors_total\{.*cluster="north".*\} [1-9]/)).toBeDefined()
    expect(await metric(/^oprc_pm_deployments\{phase="Degraded"\} 1/)).toBeDefined()
  })

  test("when the CRM returns, the breaker closes and the deployment reaches Running with no user action", async () => {
    await crm("north").up()
    const running = await waitForPhase(pm.url, "orders", "Running", 15_000)
    expect(clusterEntry(running, "north").acknowledgedGeneration).toBe(1)
    const c = await eventually("breaker closed", async () => {
      const c = await cluster("north")
      return c.breaker === "closed" && c.health === "Healthy" ? c : undefined
    })
    expect(c.availability).toBe(0.99)
    // Every cluster got the unit exactly once, whatever was retried.
    for (const name of ["east", "west", "north"]) expect(crm(name).appliedChanges(`orders-${name}`).length).toBe(1)
    expect(await metric(/^oprc_pm_cluster_breaker_state\{cluster="north"\} 0/)).toBeDefined()
    expect(await metric(/^oprc_pm_deployments\{phase="Running"\} 1/)).toBeDefined()
  })

  test("a hanging CRM hits the deadline; the update waits and lands once the CRM answers again", async () => {
    crm("west").mode = { kind: "hang" }
    const current = (await api.get("/api/v1/deployments/orders")).body
    const started = performance.now()
    const updated = await api.put("/api/v1/deployments/orders", { ...current, enforcement: "ENFORCE" })
    expect(updated.status).toBe(200)
    expect(performance.now() - started).toBeLessThan(3000)
    const stuck = await eventually("west update pending", async () => {
      const d = (await api.get("/api/v1/deployments/orders")).body
      return clusterEntry(d, "west").reason.startsWith("UpdatePending/") ? d : undefined
    })
    expect(clusterEntry(stuck, "west").phase).toBe("Deploying")
    expect(clusterEntry(stuck, "west").message).toMatch(/deadline|timed out|circuit/i)
    crm("west").mode = { kind: "slow", ms: 100 }
    await eventually("generation 2 everywhere", async () => {
      const d = (await api.get("/api/v1/deployments/orders")).body
      return d.status.phase === "Running" && d.status.clusters.every((c: any) => c.acknowledgedGeneration === 2)
        ? true
        : undefined
    }, 15_000)
    crm("west").mode = { kind: "ok" }
    expect(crm("west").units.get("orders-west")!.unit.enforcement).toBe("ENFORCE")
  })

  test("a CRM that lost its units (restarted empty) gets them again", async () => {
    crm("east").units.clear()
    await eventually("unit re-applied", async () => (crm("east").units.has("orders-east") ? true : undefined))
    await waitForPhase(pm.url, "orders", "Running")
    expect(crm("east").units.get("orders-east")!.unit.generation).toBe(2)
  })

  test("a CRM that rejects the unit marks its cluster Failed with the CRM's reason", async () => {
    crm("east").mode = { kind: "fail", code: 3, /* invalid_argument */ message: "unit.cls: unsupported by this driver" }
    const current = (await api.get("/api/v1/deployments/orders")).body
    expect((await api.put("/api/v1/deployments/orders", { ...current, enforcement: "OFF" })).status).toBe(200)
    const d = await eventually("east failed", async () => {
      const d = (await api.get("/api/v1/deployments/orders")).body
      return clusterEntry(d, "east").phase === "Failed" ? d : undefined
    })
    expect(clusterEntry(d, "east").reason).toBe("Rejected")
    expect(clusterEntry(d, "east").message).toBe("unit.cls: unsupported by this driver")
    expect((await waitForPhase(pm.url, "orders", "Degraded")).status.message).toContain("east: Failed (Rejected")
    crm("east").mode = { kind: "ok" }
    await waitForPhase(pm.url, "orders", "Running", 15_000)
  })
})
