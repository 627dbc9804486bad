import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { availableParallelism, loadavg } from "node:os"
import { clustersOf, http, startCrms, startPm } from "./support"

// Issue 7, obs. 2, 6 and 8 on the PM: bounded validation (limits.*), consistent references between
// packages (dependents, trigger targets) and paginated catalog listings.

type Pm = Awaited<ReturnType<typeof startPm>>
let pm: Pm
let api: ReturnType<typeof http>
const server = {
  host: "127.0.0.1",
  port: 8080,
  bodyLimitBytes: 8 * 1024 * 1024,
  shutdownGraceMs: 200,
  maxJsonDepth: 1000,
}

beforeAll(async () => {
  pm = await startPm({ server })
  api = http(pm.url)
})
afterAll(() => pm?.stop())

// Time bounds hold on a quiet machine; on a loaded one every stretch of CPU work takes longer by about load/cores.
const slowdown = () => Math.max(1, loadavg()[0]! / availableParallelism())

const violations = (body: { error?: { violations?: Array<{ path: string; message: string }> } }) =>
  body.error?.violations ?? []

const pkg = (name: string, version: string, extra: Record<string, unknown> = {}) => ({
  name,
  version,
  classes: [{ key: "Thing", bindings: [{ name: "run", function: "run" }] }],
  functions: [{ key: "run", provision: { url: "http://fn:8080" } }],
  ...extra,
})

const timedPost = async (body: string, contentType: string) => {
  const t = performance.now()
  const res = await fetch(`${pm.url}/api/v1/packages`, {
    method: "POST",
    headers: { "content-type": contentType },
    body,
  })
  const text = await res.text()
  return { status: res.status, text, ms: performance.now() - t }
}

describe("bounded work before the expensive part", () => {
  test("a 3 MB JSON package with 1 M tags: 400 in well under a second, one violation, a small body", async () => {
    const body = JSON.stringify({
      name: "big",
      version: "1.0.0",
      metadata: { tags: Array.from({ length: 1_000_000 }, () => 1) },
    })
    expect(body.length).toBeGreaterThan(2_000_000)
    const r = await timedPost(body, "application/json")
    expect(r.status).toBe(400)
    expect(r.text.length).toBeLessThan(1024) // 119 MB before
    expect(JSON.parse(r.text).error.violations).toEqual([{
      path: "metadata.tags",
      message: "has 1000000 items; at most 64 are allowed",
    }])
    expect(r.ms).toBeLessThan(1000 * slowdown()) // ~4 s before; ~100 ms here on a quiet machine
  })

  test("its YAML form, and YAML nested 1 M levels, are refused fast too", async () => {
    const tags = await timedPost(
      "name: big\nversion: 1.0.0\nmetadata:\n  tags:\n" + "  - 1\n".repeat(600_000),
      "application/yaml",
    )
    expect([tags.status, JSON.parse(tags.text).error.violations]).toEqual([400, [{
      path: "metadata.tags",
      message: "has 600000 items; at most 64 are allowed",
    }]])
    expect(tags.ms).toBeLessThan(1000 * slowdown()) // 14 s and a 228 MB body before
    const deep = await timedPost("name: " + "[".repeat(1_000_000) + "]".repeat(1_000_000), "application/yaml")
    expect([deep.status, JSON.parse(deep.text).error.message]).toEqual([400, "YAML is nested deeper than 32 levels"])
    expect(deep.ms).toBeLessThan(1000 * slowdown()) // ~3 s of blocked event loop before
  })

  test("the limits are configuration (limits.*)", async () => {
    const tight = await startPm({ server, limits: { maxTags: 2, maxClasses: 1 } })
    try {
      const r = await http(tight.url).post(
        "/api/v1/packages",
        pkg("tight", "1.0.0", {
          metadata: { tags: ["a", "b", "c"] },
          classes: [{ key: "A" }, { key: "B" }],
        }),
      )
      expect(r.status).toBe(400)
      expect(violations(r.body)).toEqual([
        { path: "classes", message: "has 2 items; at most 1 are allowed" },
        { path: "metadata.tags", message: "has 3 items; at most 2 are allowed" },
      ])
    } finally {
      await tight.stop()
    }
  })
})

describe("consistent references", () => {
  test("an update that breaks dependents' version ranges is 409 naming them; force overrides", async () => {
    expect((await api.post("/api/v1/packages", pkg("billing", "2.1.0"))).status).toBe(201)
    expect(
      (await api.post(
        "/api/v1/packages",
        pkg("shop", "1.0.0", { dependencies: [{ name: "billing", version: "^2.0.0" }] }),
      )).status,
    ).toBe(201)
    expect(
      (await api.post(
        "/api/v1/packages",
        pkg("crm", "1.0.0", { dependencies: [{ name: "billing", version: "~2.1.0" }] }),
      )).status,
    ).toBe(201)
    expect((await api.put("/api/v1/packages/billing", pkg("billing", "2.2.0"))).status).toBe(409) // crm's ~2.1.0
    const major = await api.put("/api/v1/packages/billing", pkg("billing", "3.0.0"))
    expect(major.status).toBe(409)
    expect(major.body.error.code).toBe("failed_precondition")
    expect(major.body.error.message).toContain(`"crm" needs "billing" ~2.1.0`)
    expect(major.body.error.message).toContain(`"shop" needs "billing" ^2.0.0`)
    expect((await api.get("/api/v1/packages/billing")).body.version).toBe("2.1.0")
    expect((await api.put("/api/v1/packages/billing", pkg("billing", "2.1.5"))).status).toBe(200)
    // Over Connect: UpdatePackageRequest.force.
    const update = (force: boolean) =>
      fetch(`${pm.url}/oprc.pm.v1.PackageService/UpdatePackage`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ package: pkg("billing", "3.0.0"), force }),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }))
    const refused = await update(false)
    // Connect carries FAILED_PRECONDITION as HTTP 400 (REST answers 409).
    expect([refused.status, refused.body.code]).toEqual([400, "failed_precondition"])
    expect(refused.body.message).toContain(`"shop" needs "billing" ^2.0.0`)
    const forced = await update(true)
    expect([forced.status, forced.body.package.version]).toEqual([200, "3.0.0"])
  })

  test("triggers must target classes and bindings that exist, here or in a dependency", async () => {
    expect((await api.post("/api/v1/packages", pkg("ledger", "1.0.0"))).status).toBe(201)
    const trigger = (
      cls: string,
      fn: string,
    ) => [{ key: "Src", triggers: [{ event: "DATA_UPDATE", source: "*", target: { cls, function: fn } }] }]
    const nowhere = await api.post("/api/v1/packages", pkg("t1", "1.0.0", { classes: trigger("nowhere.Thing", "run") }))
    expect([nowhere.status, violations(nowhere.body)]).toEqual([400, [{
      path: "classes[0].triggers[0].target.cls",
      message: `package "nowhere" is not a dependency of "t1" (add it to dependencies)`,
    }]])
    const deps = { dependencies: [{ name: "ledger", version: "^1.0.0" }] }
    const noClass = await api.post(
      "/api/v1/packages",
      pkg("t1", "1.0.0", { ...deps, classes: trigger("ledger.Nope", "run") }),
    )
    expect(violations(noClass.body)).toEqual([{
      path: "classes[0].triggers[0].target.cls",
      message: `class "Nope" is not defined in package "ledger" 1.0.0`,
    }])
    const noBinding = await api.post(
      "/api/v1/packages",
      pkg("t1", "1.0.0", { ...deps, classes: trigger("ledger.Thing", "nope") }),
    )
    expect(violations(noBinding.body)).toEqual([{
      path: "classes[0].triggers[0].target.function",
      message: `"nope" is not a binding of class "ledger.Thing" (package "ledger" 1.0.0)`,
    }])
    expect(
      (await api.post("/api/v1/packages", pkg("t1", "1.0.0", { ...deps, classes: trigger("ledger.Thing", "run") })))
        .status,
    ).toBe(201)

    // Removing the binding t1's trigger targets breaks t1: 409 naming it, unless forced.
    const without = pkg("ledger", "1.1.0", { classes: [{ key: "Thing" }] })
    const broken = await api.put("/api/v1/packages/ledger", without)
    expect(broken.status).toBe(409)
    expect(broken.body.error.message).toContain(
      `"t1" classes[0].triggers[0] targets "ledger.Thing" binding "run", which 1.1.0 does not have`,
    )
  })
})

describe("paginated catalog", () => {
  test("classes and functions in pages over REST and Connect, every item once", async () => {
    for (const name of ["pa", "pa-b", "pc"]) {
      const classes = ["Z", "A", "M"].map((key) => ({ key }))
      expect(
        (await api.post("/api/v1/packages", {
          name,
          version: "1.0.0",
          classes,
          functions: [{ key: "f1" }, { key: "f2" }],
        })).status,
      ).toBe(201)
    }
    const seen: Array<string> = []
    let cursor = ""
    for (let i = 0; i < 20; i++) {
      const page = await api.get(`/api/v1/classes?limit=2${cursor === "" ? "" : `&cursor=${cursor}`}`)
      expect(page.status).toBe(200)
      expect(page.body.items.length).toBeLessThanOrEqual(2)
      seen.push(...page.body.items.map((c: { globalKey: string }) => c.globalKey))
      if (page.body.nextCursor === undefined) break
      cursor = page.body.nextCursor
    }
    const ours = seen.filter((k) => /^(pa|pa-b|pc)\./.test(k))
    // Package by package (by name), each package's classes as written.
    expect(ours).toEqual(["pa.Z", "pa.A", "pa.M", "pa-b.Z", "pa-b.A", "pa-b.M", "pc.Z", "pc.A", "pc.M"])
    expect(new Set(seen).size).toBe(seen.length)

    const fns = await api.get("/api/v1/functions?package=pa-b&limit=1")
    expect([fns.body.items.map((f: { globalKey: string }) => f.globalKey), typeof fns.body.nextCursor]).toEqual([[
      "pa-b.f1",
    ], "string"])
    const rest = await api.get(`/api/v1/functions?package=pa-b&limit=1&cursor=${fns.body.nextCursor}`)
    expect([rest.body.items.map((f: { globalKey: string }) => f.globalKey), rest.body.nextCursor]).toEqual([
      ["pa-b.f2"],
      undefined,
    ])

    const rpc = async (method: string, body: object) =>
      (await fetch(`${pm.url}/oprc.pm.v1.CatalogService/${method}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      })).json() as Promise<any>
    const first = await rpc("ListClasses", { packageName: "pc", limit: 2 })
    expect(first.classes.map((c: { globalKey: string }) => c.globalKey)).toEqual(["pc.Z", "pc.A"])
    const second = await rpc("ListClasses", { packageName: "pc", limit: 2, cursor: first.nextCursor })
    expect([second.classes.map((c: { globalKey: string }) => c.globalKey), second.nextCursor]).toEqual([
      ["pc.M"],
      undefined,
    ])

    expect((await api.get("/api/v1/classes?cursor=bogus")).status).toBe(400)
    expect((await api.get("/api/v1/classes?limit=5000")).status).toBe(400)
  })

  test("pages cross packages, skip those without classes, and go on when the cursor's package is deleted", async () => {
    const post = async (name: string, classes: Array<string>) =>
      expect(
        (await api.post("/api/v1/packages", {
          name,
          version: "1.0.0",
          classes: classes.map((key) => ({ key })),
          functions: [{ key: "f" }],
        })).status,
      ).toBe(201)
    await post("pz-1", ["A", "B", "C"])
    await post("pz-2", [])
    await post("pz-3", ["X", "Y"])
    await post("pz-4", ["Q"])
    const page = async (cursor: string | undefined) => {
      const r = await api.get(`/api/v1/classes?limit=2${cursor === undefined ? "" : `&cursor=${cursor}`}`)
      expect(r.status).toBe(200)
      return r.body as { items: Array<{ globalKey: string }>; nextCursor?: string }
    }
    // Other tests' packages come before ours (and "shop" after): page on to the first of ours.
    const keys = (p: { items: Array<{ globalKey: string }> }) => p.items.map((i) => i.globalKey)
    let p = await page(undefined)
    while (p.nextCursor !== undefined && !keys(p).some((k) => k.startsWith("pz-"))) p = await page(p.nextCursor)
    expect(keys(p)).toEqual(["pz-1.A", "pz-1.B"])
    p = await page(p.nextCursor)
    expect(keys(p)).toEqual(["pz-1.C", "pz-3.X"])
    // The cursor names pz-3: with pz-3 gone, the next page starts at the package after it.
    expect((await api.delete("/api/v1/packages/pz-3")).status).toBe(200)
    p = await page(p.nextCursor)
    expect(keys(p)[0]).toBe("pz-4.Q")
    // Entries are encoded once per stored revision: an update shows at once.
    const updated = await api.put("/api/v1/packages/pz-4", {
      name: "pz-4",
      version: "1.0.1",
      classes: [{ key: "Q", description: "now described" }],
      functions: [{ key: "f" }],
    })
    expect(updated.status).toBe(200)
    const again = await api.get("/api/v1/classes?package=pz-4")
    expect(again.body.items.map((i: { class: { description?: string } }) => i.class.description)).toEqual([
      "now described",
    ])
    expect(again.body.items[0].packageVersion).toBe("1.0.1")
  })
})

describe("a deployment whose references break later", () => {
  test("reports ReferencesResolved=False with the reason after a forced update of its dependency", async () => {
    const crms = await startCrms(["refs"])
    const withCluster = await startPm({ server, clusters: clustersOf(crms) })
    try {
      const a = http(withCluster.url)
      expect((await a.post("/api/v1/packages", pkg("pay", "1.0.0"))).status).toBe(201)
      const app = pkg("app", "1.0.0", {
        dependencies: [{ name: "pay", version: "^1.0.0" }],
        classes: [{
          key: "Src",
          bindings: [{ name: "run", function: "run" }],
          triggers: [{ event: "DATA_UPDATE", source: "*", target: { cls: "pay.Thing", function: "run" } }],
        }],
      })
      expect((await a.post("/api/v1/packages", app)).status).toBe(201)
      expect((await a.post("/api/v1/deployments", { key: "app-src", packageName: "app", classKey: "Src" })).status)
        .toBe(201)
      const refs = async () =>
        ((await a.get("/api/v1/deployments/app-src")).body.status.conditions as Array<Record<string, unknown>>).find((
          c,
        ) => c.type === "ReferencesResolved")
      expect(await refs()).toMatchObject({ status: "True", reason: "AllResolved" })

      expect((await a.put("/api/v1/packages/pay", pkg("pay", "1.1.0", { classes: [{ key: "Thing" }] }))).status).toBe(
        409,
      )
      expect(
        (await a.put("/api/v1/packages/pay?force=true", pkg("pay", "1.1.0", { classes: [{ key: "Thing" }] }))).status,
      ).toBe(200)
      expect(await refs()).toEqual({
        type: "ReferencesResolved",
        status: "False",
        reason: "UnresolvedReference",
        message: `class "Src": triggers[0] targets "pay.Thing" binding "run", which "pay" 1.1.0 does not have`,
        observedGeneration: 0,
      })
      const listed = (await a.get("/api/v1/deployments?packageName=app")).body.items[0].status.conditions
      expect(listed.map((c: { status: string }) => c.status)).toEqual(["False"])
      const rpc = await (await fetch(`${withCluster.url}/oprc.pm.v1.DeploymentService/GetDeployment`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ key: "app-src" }),
      })).json() as any
      expect(rpc.deployment.status.conditions[0]).toMatchObject({
        type: "ReferencesResolved",
        status: "CONDITION_STATUS_FALSE",
        reason: "UnresolvedReference",
      })
    } finally {
      await withCluster.stop()
      await Promise.all(crms.map((c) => c.close()))
    }
  })
})
