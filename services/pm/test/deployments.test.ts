import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { createClient } from "@connectrpc/connect"
import { createConnectTransport } from "@connectrpc/connect-node"
import { commonv1, pmv1 } from "@oprc/proto"
import { clustersOf, connectJson, eventually, http, shopYaml, startCrms, startPm, waitForPhase } from "./support"

let pm: Awaited<ReturnType<typeof startPm>>
let crms: Awaited<ReturnType<typeof startCrms>>
let api: ReturnType<typeof http>
const crm = (name: string) => crms.find((c) => c.name === name)!

beforeAll(async () => {
  crms = await startCrms(["alpha", "beta", "gamma"])
  crm("alpha").availability = 0.99
  crm("beta").availability = 0.95
  crm("gamma").availability = 0.9
  pm = await startPm({ clusters: clustersOf(crms) })
  api = http(pm.url)
  expect((await api.post("/api/v1/packages", await shopYaml(), "application/yaml")).status).toBe(201)
  await eventually(
    "clusters polled",
    async () =>
      (await api.get("/api/v1/clusters")).body.items.every((c: { health: string }) => c.health === "Healthy")
        ? true
        : undefined,
  )
})
afterAll(async () => {
  await pm.stop()
  await Promise.all(crms.map((c) => c.close()))
})

const orders = (key: string, extra: Record<string, unknown> = {}) => ({
  key,
  packageName: "shop",
  classKey: "Order",
  ...extra,
})
const violation = (body: any) => body.error?.violations?.[0]

describe("deployments", () => {
  test("automatic placement: the fewest clusters meeting the availability NFR; one unit per cluster; Running", async () => {
    const created = await api.post(
      "/api/v1/deployments",
      orders("auto", {
        nfr: { availability: 0.999, minThroughputRps: 100, maxLatencyP99Ms: 50, consistency: "STRONG" },
        clusterTemplates: { alpha: "knative" },
        odgm: { partitionCount: 8 },
      }),
    )
    expect(created.status).toBe(201)
    expect(created.body.placedClusters).toEqual(["alpha", "beta"])
    const running = await waitForPhase(pm.url, "auto", "Running")
    expect(running.status.clusters.map((c: any) => [c.cluster, c.phase, c.acknowledgedGeneration])).toEqual([[
      "alpha",
      "Running",
      1,
    ], ["beta", "Running", 1]])
    expect(running.status.clusters[0].conditions.find((c: any) => c.type === "Available").status).toBe("True")
    const unit = crm("alpha").units.get("auto-alpha")!.unit
    expect(unit.template).toBe("knative")
    expect(crm("beta").units.get("auto-beta")!.unit.template).toBe("")
    expect(unit.odgm).toEqual({ partitionCount: 8, replicaCount: 2 })
    expect(unit.nfr).toEqual({ availability: 0.999, minThroughputRps: 100, maxLatencyP99Ms: 50, consistency: "STRONG" })
    expect(unit.functions.map((f) => f.key)).toEqual([
      "Order.create",
      "Order.addItem",
      "Order.pay",
      "Order.ship",
      "Order.quote",
    ])
    expect(unit.generation).toBe(1)
    expect(crm("gamma").units.size).toBe(0)
    expect(crm("alpha").appliedChanges("auto-alpha").length).toBe(1)
    const mappings = await api.get("/api/v1/deployments/auto/cluster-mappings")
    expect(mappings.body).toEqual({ alpha: "auto-alpha", beta: "auto-beta" })
  })

  test("bad deployments are 4xx with the field path", async () => {
    const cases: Array<[object, number, string, RegExp]> = [
      [orders("x1", { nfr: { availability: 0.9999999 } }), 400, "nfr.availability", /cannot be met/],
      [orders("x2", { targetClusters: ["mars"] }), 400, "targetClusters[0]", /"mars" is not configured/],
      [{ key: "x3", packageName: "nopkg", classKey: "Order" }, 400, "packageName", /does not exist/],
      [orders("x4", { classKey: "Ghost" }), 400, "classKey", /not defined in package "shop"/],
      [orders("Bad Key"), 400, "key", /DNS-1123/],
      [orders("x5", { odgm: { partitionCount: 0 } }), 400, "odgm.partitionCount", /from 1 to 1024/],
      [orders("x6", { nfr: { availability: "high" } }), 400, "nfr.availability", /expected a number/],
      [orders("x7", { clusterTemplates: { mars: "k8s" } }), 400, "clusterTemplates[\"mars\"]", /not configured/],
    ]
    for (const [body, status, path, message] of cases) {
      const r = await api.post("/api/v1/deployments", body)
      expect([r.status, violation(r.body)?.path]).toEqual([status, path])
      expect(violation(r.body).message).toMatch(message)
    }
    expect((await api.post("/api/v1/deployments", orders("auto"))).status).toBe(409)
    expect((await api.get("/api/v1/deployments/ghost")).status).toBe(404)
  })

  test("update: a new generation reaches every cluster; an identical update sends nothing; a stale revision is 409", async () => {
    const current = (await api.get("/api/v1/deployments/auto")).body
    const updated = await api.put("/api/v1/deployments/auto", {
      ...current,
      nfr: { ...current.nfr, minThroughputRps: 500 },
    })
    expect(updated.status).toBe(200)
    await eventually("generation 2 running", async () => {
      const d = (await api.get("/api/v1/deployments/auto")).body
      return d.status.phase === "Running" && d.status.clusters.every((c: any) => c.acknowledgedGeneration === 2)
        ? d
        : undefined
    })
    expect(crm("beta").units.get("auto-beta")!.unit.nfr.minThroughputRps).toBe(500)
    const same = await api.put("/api/v1/deployments/auto", { ...updated.body, status: undefined })
    expect(same.status).toBe(200)
    expect(crm("alpha").appliedChanges("auto-alpha").map((a) => a.generation)).toEqual([1, 2])
    const stale = await api.put("/api/v1/deployments/auto", {
      ...current,
      nfr: { ...current.nfr, minThroughputRps: 1 },
    })
    expect(stale.status).toBe(409)
  })

  test("moving a deployment removes its units from the clusters it leaves", async () => {
    const current = (await api.get("/api/v1/deployments/auto")).body
    const moved = await api.put("/api/v1/deployments/auto", {
      ...current,
      targetClusters: ["gamma"],
      clusterTemplates: {},
    })
    expect(moved.status).toBe(200)
    expect(moved.body.placedClusters).toEqual(["gamma"])
    await waitForPhase(pm.url, "auto", "Running")
    await eventually(
      "old units removed",
      async () => (crm("alpha").units.has("auto-alpha") || crm("beta").units.has("auto-beta") ? undefined : true),
    )
    expect(crm("gamma").units.get("auto-gamma")!.unit.odgm.replicaCount).toBe(1)
  })

  test("a package update rolls out to its deployments; removing a deployed class is refused", async () => {
    const pkg = (await api.get("/api/v1/packages/shop")).body
    const fns = pkg.functions.map((
      f: any,
    ) => (f.key === "Order.pay" ? { ...f, config: { PAYMENT_PROVIDER: "live" } } : f))
    expect((await api.put("/api/v1/packages/shop", { ...pkg, version: "1.1.0", functions: fns })).status).toBe(200)
    await eventually("rolled to the new package version", async () => {
      const u = crm("gamma").units.get("auto-gamma")?.unit
      return u?.packageVersion === "1.1.0" &&
          u.functions.find((f) => f.key === "Order.pay")?.config["PAYMENT_PROVIDER"] === "live"
        ? true
        : undefined
    })
    const latest = (await api.get("/api/v1/packages/shop")).body
    const refused = await api.put("/api/v1/packages/shop", {
      ...latest,
      classes: latest.classes.filter((c: any) => c.key !== "Order"),
    })
    expect(refused.status).toBe(409)
    expect(refused.body.error.message).toContain("class \"Order\" is deployed by \"auto\"")
  })

  test("a cluster reporting Failed shows in the cluster's status and the overall phase", async () => {
    expect((await api.post("/api/v1/deployments", orders("fails", { targetClusters: ["alpha", "beta"] }))).status).toBe(
      201,
    )
    await waitForPhase(pm.url, "fails", "Running")
    crm("alpha").setPhase("fails-alpha", "Failed", "image pull back-off")
    const degraded = await waitForPhase(pm.url, "fails", "Degraded")
    expect(degraded.status.message).toBe("alpha: Failed (Failed: image pull back-off)")
    crm("beta").setPhase("fails-beta", "Failed", "crash loop")
    await waitForPhase(pm.url, "fails", "Failed")
  })

  test("Connect: create with JSON, then WatchDeployment streams the status to Running; delete removes it everywhere", async () => {
    const created = await connectJson(pm.url, "oprc.pm.v1.DeploymentService/CreateDeployment", {
      deployment: { key: "via-connect", packageName: "shop", classKey: "Inventory", targetClusters: ["beta", "gamma"] },
    })
    expect(created.status).toBe(200)
    expect(created.body.deployment.placedClusters).toEqual(["beta", "gamma"])
    const client = createClient(pmv1.DeploymentService, createConnectTransport({ baseUrl: pm.url, httpVersion: "1.1" }))
    const phases: Array<commonv1.DeploymentPhase> = []
    for await (const msg of client.watchDeployment({ key: "via-connect" }, { timeoutMs: 10_000 })) {
      phases.push(msg.deployment!.status!.phase)
      if (msg.deployment!.status!.phase === commonv1.DeploymentPhase.RUNNING) break
    }
    expect(phases[phases.length - 1]).toBe(commonv1.DeploymentPhase.RUNNING)
    const bad = await connectJson(pm.url, "oprc.pm.v1.DeploymentService/CreateDeployment", {
      deployment: { key: "x", packageName: "shop", classKey: "Nope" },
    })
    expect(bad.status).toBe(400)
    expect(bad.body.message).toContain("deployment.classKey")

    const deleted = await api.delete("/api/v1/deployments/via-connect")
    expect(deleted.status).toBe(202)
    expect(deleted.body.status.phase).toBe("Deleting")
    await eventually(
      "deployment gone",
      async () => ((await api.get("/api/v1/deployments/via-connect")).status === 404 ? true : undefined),
    )
    expect(crm("beta").units.has("via-connect-beta") || crm("gamma").units.has("via-connect-gamma")).toBe(false)
    const list = await api.get("/api/v1/deployments?packageName=shop")
    expect(list.body.items.map((d: any) => d.key).sort()).toEqual(["auto", "fails"])
    expect((await api.get("/api/v1/deployments?cluster=gamma")).body.items.map((d: any) => d.key)).toEqual(["auto"])
  })
})
