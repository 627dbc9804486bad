import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { clustersOf, http, shopYaml, startCrms, startPm } from "./support"

type Pm = Awaited<ReturnType<typeof startPm>>
let pm: Pm
let crms: Awaited<ReturnType<typeof startCrms>>
let api: ReturnType<typeof http>

beforeAll(async () => {
  crms = await startCrms(["one"])
  pm = await startPm({ clusters: clustersOf(crms) })
  api = http(pm.url)
})
afterAll(async () => {
  await pm.stop()
  await Promise.all(crms.map((c) => c.close()))
})

const pkg = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  version: "1.0.0",
  classes: [{ key: "Thing", bindings: [{ name: "run", function: "run" }] }],
  functions: [{ key: "run", provision: { url: "http://fn:8080" } }],
  ...extra,
})

const violations = (body: { error?: { violations?: Array<{ path: string; message: string }> } }) =>
  body.error?.violations ?? []

describe("package CRUD over REST", () => {
  test("a package file posts as it is (YAML), then reads back; a duplicate is 409", async () => {
    const created = await api.post("/api/v1/packages", await shopYaml(), "application/yaml")
    expect(created.status).toBe(201)
    expect(created.headers.get("location")).toBe("/api/v1/packages/shop")
    expect(created.body.revision).toBeGreaterThan(0)
    const got = await api.get("/api/v1/packages/shop")
    expect(got.status).toBe(200)
    expect(got.body.classes.map((c: { key: string }) => c.key)).toEqual(["Order", "Inventory", "Customer"])
    const dup = await api.post("/api/v1/packages", await shopYaml(), "application/yaml")
    expect(dup.status).toBe(409)
    expect(dup.body.error.code).toBe("already_exists")
    expect(dup.body.error.message).toBe("package \"shop\" already exists")
  })

  test("the catalog lists every class and function under global keys", async () => {
    const classes = await api.get("/api/v1/classes?package=shop")
    expect(classes.body.items.map((c: { globalKey: string }) => c.globalKey)).toEqual([
      "shop.Order",
      "shop.Inventory",
      "shop.Customer",
    ])
    expect(classes.body.items[0].class.bindings.length).toBe(5)
    const fns = await api.get("/api/v1/functions")
    expect(fns.body.items.map((f: { globalKey: string }) => f.globalKey)).toContain("shop.Order.create")
  })

  test("list: name pattern, tags, pagination with limit and cursor", async () => {
    for (const n of ["list-a", "list-b", "list-c", "other-d"]) {
      const r = await api.post("/api/v1/packages", pkg(n, { metadata: { tags: n === "list-b" ? ["x", "y"] : ["x"] } }))
      expect(r.status).toBe(201)
    }
    const byPattern = await api.get("/api/v1/packages?namePattern=list-*")
    expect(byPattern.body.items.map((p: { name: string }) => p.name)).toEqual(["list-a", "list-b", "list-c"])
    const snake = await api.get("/api/v1/packages?name_pattern=*-d")
    expect(snake.body.items.map((p: { name: string }) => p.name)).toEqual(["other-d"])
    const tagged = await api.get("/api/v1/packages?tags=x,y")
    expect(tagged.body.items.map((p: { name: string }) => p.name)).toEqual(["list-b"])
    const seen: Array<string> = []
    let cursor: string | undefined
    do {
      const page = await api.get(`/api/v1/packages?tags=x&limit=2${cursor ? `&cursor=${cursor}` : ""}`)
      expect(page.status).toBe(200)
      expect(page.body.items.length).toBeLessThanOrEqual(2)
      seen.push(...page.body.items.map((p: { name: string }) => p.name))
      cursor = page.body.nextCursor
    } while (cursor)
    expect(seen).toEqual(["list-a", "list-b", "list-c", "other-d"])
    expect((await api.get("/api/v1/packages?limit=5000")).status).toBe(400)
    expect(violations((await api.get("/api/v1/packages?cursor=%25%25")).body)[0]?.path).toBe("cursor")
  })

  test("a page of large packages ends before 8 MiB of them, with a cursor (limit alone does not bound its size)", async () => {
    const big = await startPm({
      server: { host: "127.0.0.1", port: 8080, bodyLimitBytes: 4 * 1024 * 1024, shutdownGraceMs: 200 },
    })
    try {
      const bigApi = http(big.url)
      // 3.6 MB each: two fit in a page, the third goes to the next.
      const labels = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`l${i}`, "x".repeat(60_000)]))
      for (const n of ["big-a", "big-b", "big-c"]) {
        expect((await bigApi.post("/api/v1/packages", pkg(n, { metadata: { labels } }))).status).toBe(201)
      }
      const names = (page: { body: { items: Array<{ name: string }> } }) => page.body.items.map((p) => p.name)
      const first = await bigApi.get("/api/v1/packages?limit=10")
      expect(names(first)).toEqual(["big-a", "big-b"])
      expect(first.body.nextCursor).toBeString()
      const second = await bigApi.get(`/api/v1/packages?limit=10&cursor=${first.body.nextCursor}`)
      expect(names(second)).toEqual(["big-c"])
      expect(second.body.nextCursor).toBeUndefined()
      // The same bound on the Connect listing (the same store page).
      const rpc = await bigApi.post("/oprc.pm.v1.PackageService/ListPackages", { limit: 10 })
      expect(rpc.body.packages.map((p: { name: string }) => p.name)).toEqual(["big-a", "big-b"])
      expect(rpc.body.nextCursor).toBe(first.body.nextCursor)
      // The class catalog reads the same packages: bounded the same way.
      const classes = await bigApi.get("/api/v1/classes?limit=10")
      const keys = (page: { body: { items: Array<{ globalKey: string }> } }) => page.body.items.map((c) => c.globalKey)
      expect(keys(classes)).toEqual(["big-a.Thing", "big-b.Thing"])
      const moreClasses = await bigApi.get(`/api/v1/classes?limit=10&cursor=${classes.body.nextCursor}`)
      expect([keys(moreClasses), moreClasses.body.nextCursor]).toEqual([["big-c.Thing"], undefined])
    } finally {
      await big.stop()
    }
  })

  test("update needs the current revision: a stale one is 409, the body's revision counts", async () => {
    const first = (await api.post("/api/v1/packages", pkg("upd"))).body
    const ok = await api.put("/api/v1/packages/upd", { ...first, version: "1.1.0" })
    expect(ok.status).toBe(200)
    expect(ok.body.version).toBe("1.1.0")
    expect(ok.body.revision).toBeGreaterThan(first.revision)
    const stale = await api.put("/api/v1/packages/upd", { ...first, version: "1.2.0" })
    expect(stale.status).toBe(409)
    expect(stale.body.error.code).toBe("aborted")
    const viaQuery = await api.put(
      `/api/v1/packages/upd?expectedRevision=${first.revision}`,
      pkg("upd", { version: "1.3.0" }),
    )
    expect(viaQuery.status).toBe(409)
    const wrongName = await api.put("/api/v1/packages/upd", pkg("other"))
    expect(wrongName.status).toBe(400)
    expect(violations(wrongName.body)).toEqual([{ path: "name", message: "must be \"upd\", the name in the path" }])
    expect((await api.put("/api/v1/packages/nope", pkg("nope"))).status).toBe(404)
  })

  test("delete: 409 while deployments exist, cascade deletes them too", async () => {
    expect((await api.post("/api/v1/packages", pkg("dep-pkg"))).status).toBe(201)
    const d = await api.post("/api/v1/deployments", {
      key: "dep-pkg-thing",
      packageName: "dep-pkg",
      classKey: "Thing",
      targetClusters: ["one"],
    })
    expect(d.status).toBe(201)
    const refused = await api.delete("/api/v1/packages/dep-pkg")
    expect(refused.status).toBe(409)
    expect(refused.body.error.message).toContain("dep-pkg-thing")
    const cascaded = await api.delete("/api/v1/packages/dep-pkg?cascade=true")
    expect(cascaded.status).toBe(200)
    expect(cascaded.body.deletedDeployments).toEqual(["dep-pkg-thing"])
    expect((await api.get("/api/v1/packages/dep-pkg")).status).toBe(404)
    // The deployment's units are removed from the cluster, then the deployment itself.
    const gone = await pollStatus("/api/v1/deployments/dep-pkg-thing", 404)
    expect(gone).toBe(404)
    expect(crms[0]!.units.has("dep-pkg-thing-one")).toBe(false)
    expect((await api.delete("/api/v1/packages/dep-pkg")).status).toBe(404)
  })
})

const pollStatus = async (path: string, want: number) => {
  for (let i = 0; i < 100; i++) {
    const r = await api.get(path)
    if (r.status === want) return r.status
    await Bun.sleep(50)
  }
  return (await api.get(path)).status
}

describe("validation: 4xx with the field path and reason", () => {
  const expectViolation = async (body: unknown, path: string, message: RegExp | string, contentType?: string) => {
    const r = await api.post("/api/v1/packages", typeof body === "string" ? body : JSON.stringify(body), contentType)
    expect(r.status).toBe(400)
    expect(r.body.error.code).toBe("invalid_argument")
    const hit = violations(r.body).find((v) => v.path === path)
    if (!hit) throw new Error(`no violation at ${path}: ${JSON.stringify(r.body)}`)
    if (typeof message === "string") expect(hit.message).toBe(message)
    else expect(hit.message).toMatch(message)
  }

  test("versions are semantic versions", () =>
    expectViolation(pkg("v", { version: "1.0" }), "version", /not a semantic version/))
  test("names are DNS labels", () => expectViolation(pkg("Bad_Name"), "name", /DNS-1123/))
  test("wrong types", () =>
    expectViolation(pkg("t", { classes: "Thing" }), "classes", "expected a list, got \"Thing\""))
  test("unknown fields, with a suggestion", () =>
    expectViolation(
      pkg("u", { functions: [{ key: "run", function_type: "CUSTOM" }] }),
      "functions[0].function_type",
      /unknown field; did you mean "type"/,
    ))
  test("every binding's function exists", () =>
    expectViolation(
      pkg("b", { classes: [{ key: "T", bindings: [{ name: "x", function: "missing" }] }] }),
      "classes[0].bindings[0].function",
      /"missing" is not defined/,
    ))
  test("keys are unique", () =>
    expectViolation(
      pkg("k", { functions: [{ key: "run" }, { key: "run" }] }),
      "functions[1].key",
      /duplicate function key/,
    ))
  test("dependencies exist", () =>
    expectViolation(
      pkg("d", { dependencies: [{ name: "ghost" }] }),
      "dependencies[0].name",
      "package \"ghost\" does not exist",
    ))
  test("dependency versions satisfy their range", async () => {
    expect((await api.post("/api/v1/packages", pkg("base"))).status).toBe(201)
    await expectViolation(
      pkg("needs-base", { dependencies: [{ name: "base", version: "^2.0.0" }] }),
      "dependencies[0].version",
      /does not satisfy/,
    )
  })
  test("dependencies form no cycle (an update that would close one is refused)", async () => {
    expect((await api.post("/api/v1/packages", pkg("cyc-a"))).status).toBe(201)
    expect((await api.post("/api/v1/packages", pkg("cyc-b", { dependencies: [{ name: "cyc-a" }] }))).status).toBe(201)
    const r = await api.put("/api/v1/packages/cyc-a", pkg("cyc-a", { dependencies: [{ name: "cyc-b" }] }))
    expect(r.status).toBe(400)
    expect(violations(r.body)[0]).toEqual({
      path: "dependencies[0]",
      message: "package \"cyc-b\" depends back on \"cyc-a\" (cycle cyc-a -> cyc-b -> cyc-a)",
    })
    const blocked = await api.delete("/api/v1/packages/cyc-a")
    expect(blocked.status).toBe(409)
    expect(blocked.body.error.message).toBe("package \"cyc-a\" is a dependency of \"cyc-b\"")
  })
  test("malformed JSON names where", () =>
    expectViolation("{\"name\": \"x\", ", "", /JSON syntax error/, "application/json"))
  test("malformed YAML names line and column", () =>
    expectViolation("name: x\nversion: [1.0\n", "", /YAML syntax error at line \d+, column \d+/, "application/yaml"))
  test("an unsupported content type is refused", () =>
    expectViolation("name,x", "", /unsupported content type/, "text/csv"))
  // curl -d sends this type by default; every REST edge reads it as JSON (packages/rpc).
  test("curl's default form content type is read as JSON", () =>
    expectViolation("name=x", "", /JSON syntax error/, "application/x-www-form-urlencoded"))
  test("an empty body is refused", () => expectViolation("", "", /empty/, "application/json"))
  test("an invalid name in the path is refused", async () => {
    const r = await api.get("/api/v1/packages/NOT_A_NAME")
    expect(r.status).toBe(400)
    expect(violations(r.body)[0]?.path).toBe("name")
  })
  test("an oversized body is 413", async () => {
    const big = JSON.stringify(pkg("big", { metadata: { description: "x".repeat(300 * 1024) } }))
    const r = await api.post("/api/v1/packages", big)
    expect(r.status).toBe(413)
    expect(r.body.error.code).toBe("resource_exhausted")
    expect((await fetch(`${pm.url}/healthz`)).status).toBe(200)
  })
})
