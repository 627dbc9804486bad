import { expect } from "bun:test"
import { join } from "node:path"
import { pidsOfUnit, waitFor } from "../harness/index.ts"
import { call, ok, repoRoot, tallyPackage } from "./support"

// The platform flow every e2e run goes through, over the servers' REST APIs, whatever started
// them (separate binaries, or one `oprc dev`): two packages where one depends on the other,
// deployments on every cluster, objects, sync and async invocations, a trigger across classes,
// NFR numbers, and a teardown that must leave nothing behind.

export interface Platform {
  readonly pm: string
  /** Each cluster's ODGM and CRM, by cluster name. */
  readonly odgm: Readonly<Record<string, string>>
  readonly crm: Readonly<Record<string, string>>
}

const clustersOf = (p: Platform) => Object.keys(p.odgm)
const FLOW_DEPLOYMENTS = ["counter-e2e", "tally-e2e"] as const
export const unitsOf = (p: Platform, deployments: ReadonlyArray<string> = FLOW_DEPLOYMENTS) =>
  deployments.flatMap((d) => clustersOf(p).map((c) => `${d}-${c}`))

export const deployment = (p: Platform, key: string, packageName: string, extra: Record<string, unknown> = {}) => ({
  key,
  packageName,
  classKey: packageName === "tally" ? "Tally" : "Counter",
  targetClusters: clustersOf(p),
  odgm: { partitionCount: 2 },
  ...extra,
})
export const waitRunning = (p: Platform, key: string) =>
  ok("GET", `${p.pm}/api/v1/deployments/${key}?waitFor=Running&timeoutMs=40000`)
export const invoke = (
  p: Platform,
  cluster: string,
  cls: string,
  id: string,
  fn: string,
  body: unknown = {},
  headers: Record<string, string> = {},
) => call("POST", `${p.odgm[cluster]}/api/class/${cls}/-/objects/${id}/invokes/${fn}?timeoutMs=5000`, body, headers)

/** counter, then tally (which depends on it; refused while counter is missing); both deployed to every cluster. */
export const applyAndDeploy = async (p: Platform) => {
  const early = await call("POST", `${p.pm}/api/v1/packages`, tallyPackage())
  expect(early.status).toBe(400)
  expect(JSON.stringify(early.body)).toContain("dependencies[0].name")
  await ok("POST", `${p.pm}/api/v1/packages`, await Bun.file(join(repoRoot, "examples/counter/package.yaml")).text())
  await ok("POST", `${p.pm}/api/v1/packages`, tallyPackage())
  await ok(
    "POST",
    `${p.pm}/api/v1/deployments`,
    deployment(p, "counter-e2e", "counter", {
      enforcement: "OBSERVE",
      nfr: { minThroughputRps: 1, maxLatencyP99Ms: 2000 },
    }),
  )
  await ok("POST", `${p.pm}/api/v1/deployments`, deployment(p, "tally-e2e", "tally"))
  for (const key of FLOW_DEPLOYMENTS) {
    const dep = await waitRunning(p, key)
    expect(dep.status.phase).toBe("Running")
    expect(dep.status.clusters.map((c: { cluster: string; phase: string }) => [c.cluster, c.phase]).sort()).toEqual(
      clustersOf(p).sort().map((c) => [c, "Running"]),
    )
  }
  for (const unit of unitsOf(p)) expect(pidsOfUnit(unit).length, unit).toBe(1)
}

/** Put/get an object, a sync invocation, an async one and its result, on each cluster's grid. */
export const objectsAndInvocations = async (p: Platform) => {
  const clusters = clustersOf(p)
  for (const cluster of clusters) {
    const base = `${p.odgm[cluster]}/api/class/counter.Counter/-/objects`
    expect((await call("PUT", `${base}/c1`, { entries: { count: 10 } })).status).toBeLessThan(300)
    expect((await ok("GET", `${base}/c1`)).entries).toEqual({ count: 10 })
    expect(await invoke(p, cluster, "counter.Counter", "c1", "increment", { by: 5 })).toEqual({
      status: 200,
      body: { count: 15 },
    })
    const accepted = await call("POST", `${base}/c1/invokes/increment?async=true`, { by: 1 })
    expect(accepted.status).toBe(202)
    expect(accepted.body.invocationId).toBeTruthy()
    const result = await ok("GET", `${p.odgm[cluster]}/api/invocations/${accepted.body.invocationId}?waitMs=10000`)
    expect(result).toMatchObject({ state: "DONE", status: "OK", output: { count: 16 } })
    expect((await ok("GET", `${base}/c1`)).entries).toEqual({ count: 16 })
  }
  if (clusters.length > 1) {
    // Each cluster has its own grid: what is written on one does not show on another.
    expect(
      (await call("PUT", `${p.odgm[clusters[0]!]}/api/class/counter.Counter/-/objects/only-first`, {
        entries: { count: 1 },
      })).status,
    ).toBeLessThan(300)
    expect((await call("GET", `${p.odgm[clusters[1]!]}/api/class/counter.Counter/-/objects/only-first`)).status).toBe(
      404,
    )
  }
}

/** Every completed tally increment fires a trigger that increments counter object `total`. */
export const crossClassTrigger = async (p: Platform) => {
  for (const cluster of clustersOf(p)) {
    for (let i = 1; i <= 3; i++) {
      expect(await invoke(p, cluster, "tally.Tally", "t1", "increment")).toEqual({ status: 200, body: { count: i } })
    }
    const total = await waitFor(`${cluster}: counter total reaches 3`, async () => {
      const r = await call("GET", `${p.odgm[cluster]}/api/class/counter.Counter/-/objects/total`)
      return r.status === 200 && r.body.entries.count === 3 ? r.body : undefined
    }, { timeoutMs: 15_000, intervalMs: 100 })
    expect(total.entries).toEqual({ count: 3 })
  }
}

/** Under a little load, every cluster's NFR analyzer reports numbers the PM shows; observe mode scales nothing. */
export const nfrObserved = async (p: Platform) => {
  let stop = false
  const load = (async () => {
    while (!stop) await Promise.all(clustersOf(p).map((c) => invoke(p, c, "counter.Counter", "load", "increment")))
  })()
  try {
    const dep = await waitFor("counter-e2e reports observed rps on every cluster", async () => {
      const d = await ok("GET", `${p.pm}/api/v1/deployments/counter-e2e`)
      return d.status.clusters.every((c: { nfr?: { observedRps: number } }) => (c.nfr?.observedRps ?? 0) > 0)
        ? d
        : undefined
    }, { timeoutMs: 40_000, intervalMs: 500 })
    expect(dep.status.clusters.length).toBe(clustersOf(p).length)
    for (const c of dep.status.clusters) {
      expect(c.nfr.observedP99Ms).toBeGreaterThan(0)
      expect(c.nfr.recommendedReplicas).toBeGreaterThanOrEqual(1)
    }
    for (const cluster of clustersOf(p)) expect(pidsOfUnit(`counter-e2e-${cluster}`).length).toBe(1)
  } finally {
    stop = true
    await load
  }
}

/** Deletes the deployments, then the packages (the dependency last); nothing may be left. */
export const teardown = async (p: Platform, deployments: ReadonlyArray<string>, packages: ReadonlyArray<string>) => {
  for (const key of deployments) {
    expect((await call("DELETE", `${p.pm}/api/v1/deployments/${key}`)).status).toBeLessThan(300)
  }
  for (const key of deployments) {
    await waitFor(
      `${key} gone`,
      async () => ((await call("GET", `${p.pm}/api/v1/deployments/${key}`)).status === 404 ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 200 },
    )
  }
  // A dependency cannot go before its dependent.
  expect((await call("DELETE", `${p.pm}/api/v1/packages/counter`)).status).toBe(409)
  for (const name of packages) {
    expect((await call("DELETE", `${p.pm}/api/v1/packages/${name}`)).status).toBeLessThan(300)
  }
  expect((await ok("GET", `${p.pm}/api/v1/packages`)).items).toEqual([])
  expect((await ok("GET", `${p.pm}/api/v1/deployments`)).items).toEqual([])
  const units = unitsOf(p, deployments)
  await waitFor(
    "every function process gone",
    async () => (units.every((u) => pidsOfUnit(u).length === 0) ? true : undefined),
    { timeoutMs: 15_000, intervalMs: 100 },
  )
  for (const cluster of clustersOf(p)) {
    const listed = await ok("POST", `${p.crm[cluster]}/oprc.crm.v1.RuntimeService/ListDeploymentUnits`, {})
    expect(listed.units ?? [], `${cluster}: units`).toEqual([])
    expect((await ok("GET", `${p.odgm[cluster]}/api/collections`)).collections, `${cluster}: collections`).toEqual([])
  }
}
