import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { clustersOf, connectJson, startCrms, startPm } from "../services/pm/test/support"
import { startOdgm } from "../services/odgm/test/support/odgm"

// Issue 7, observation 1: Connect JSON must not change meaning silently. Short enum spellings
// (as REST and YAML write them) mean the same as the proto names; unknown fields and values are
// 400 naming the path, on every service mounted through rpcService/serve.

const crms = await startCrms(["edge-a"])
let pm: Awaited<ReturnType<typeof startPm>>
let odgm: Awaited<ReturnType<typeof startOdgm>>

beforeAll(async () => {
  pm = await startPm({ clusters: clustersOf(crms) } as never)
  odgm = await startOdgm({ internalToken: "edge-internal" })
})
afterAll(async () => {
  await pm?.stop()
  await odgm?.stop()
  await Promise.all(crms.map((c) => c.close()))
})

const pkg = (name: string, access: string) => ({
  package: {
    name,
    version: "1.0.0",
    classes: [{
      key: "Thing",
      state: { consistency: "STRONG" },
      bindings: [{ name: "poke", function: "Thing.poke", access }],
    }],
    functions: [{ key: "Thing.poke", provision: { url: "http://127.0.0.1:9/" } }],
  },
})

describe("Connect JSON on PM", () => {
  test("CreatePackage with \"access\":\"INTERNAL\" stores INTERNAL, like the proto name does", async () => {
    const short = await connectJson(pm.url, "oprc.pm.v1.PackageService/CreatePackage", pkg("edge-short", "INTERNAL"))
    expect(short.status).toBe(200)
    expect(short.body.package.classes[0].bindings[0].access).toBe("ACCESS_MODIFIER_INTERNAL")
    expect(short.body.package.classes[0].state.consistency).toBe("CONSISTENCY_STRONG")
    const full = await connectJson(
      pm.url,
      "oprc.pm.v1.PackageService/CreatePackage",
      pkg("edge-full", "ACCESS_MODIFIER_PRIVATE"),
    )
    expect(full.body.package.classes[0].bindings[0].access).toBe("ACCESS_MODIFIER_PRIVATE")
    // Read back through REST: the stored value, not just the echo.
    const stored: any = await (await fetch(`${pm.url}/api/v1/packages/edge-short`)).json()
    expect(JSON.stringify(stored)).toContain("INTERNAL")
    expect(JSON.stringify(stored)).not.toContain("PUBLIC")
  })

  test("a misspelt field is 400 naming it, with a suggestion, and nothing is created", async () => {
    const r = await connectJson(pm.url, "oprc.pm.v1.PackageService/CreatePackage", {
      package: { name: "edge-typo", version: "1.0.0", clases: [] },
    })
    expect(r.status).toBe(400)
    expect(r.body.code).toBe("invalid_argument")
    expect(r.body.message).toContain("package.clases")
    expect(r.body.message).toContain("did you mean \"classes\"")
    expect((await fetch(`${pm.url}/api/v1/packages/edge-typo`)).status).toBe(404)
  })

  test("an unknown enum value is 400 naming the field and the accepted values, never a default", async () => {
    const r = await connectJson(pm.url, "oprc.pm.v1.PackageService/CreatePackage", pkg("edge-bad-enum", "SECRET"))
    expect(r.status).toBe(400)
    expect(r.body.message).toContain("package.classes[0].bindings[0].access")
    expect(r.body.message).toContain("PUBLIC, INTERNAL, PRIVATE")
    expect((await fetch(`${pm.url}/api/v1/packages/edge-bad-enum`)).status).toBe(404)
    const n = await connectJson(pm.url, "oprc.pm.v1.PackageService/CreatePackage", pkg("edge-bad-num", 7 as never))
    expect(n.status).toBe(400)
  })

  test("CreateDeployment keeps \"enforcement\":\"ENFORCE\" and \"consistency\":\"STRONG\"", async () => {
    expect((await connectJson(pm.url, "oprc.pm.v1.PackageService/CreatePackage", pkg("edge-dep", "PUBLIC"))).status)
      .toBe(200)
    const r = await connectJson(pm.url, "oprc.pm.v1.DeploymentService/CreateDeployment", {
      deployment: {
        key: "edge-dep-1",
        packageName: "edge-dep",
        classKey: "Thing",
        targetClusters: ["edge-a"],
        enforcement: "ENFORCE",
        nfr: { consistency: "STRONG" },
      },
    })
    expect(r.status).toBe(200)
    expect(r.body.deployment.enforcement).toBe("ENFORCEMENT_MODE_ENFORCE")
    expect(r.body.deployment.nfr.consistency).toBe("CONSISTENCY_STRONG")
    const stored = await connectJson(pm.url, "oprc.pm.v1.DeploymentService/GetDeployment", { key: "edge-dep-1" })
    expect(stored.body.deployment.enforcement).toBe("ENFORCEMENT_MODE_ENFORCE")
  })

  test("invalid UTF-8 and 100 k deep JSON are 400, not 500", async () => {
    const bad = new Uint8Array([
      ...new TextEncoder().encode("{\"name\":\""),
      0xff,
      0xfe,
      ...new TextEncoder().encode("\"}"),
    ])
    const utf = await fetch(`${pm.url}/oprc.pm.v1.PackageService/GetPackage`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: bad,
    })
    expect(utf.status).toBe(400)
    expect(((await utf.json()) as any).message).toContain("UTF-8")
    const deep = "[".repeat(100_000) + "]".repeat(100_000)
    const d = await fetch(`${pm.url}/oprc.pm.v1.PackageService/GetPackage`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: deep,
    })
    expect(d.status).toBe(400)
    expect(((await d.json()) as any).message).toContain("nested deeper than 32")
  })
})

describe("Connect JSON on ODGM", () => {
  test("ApplyCollection with \"access\":\"INTERNAL\" makes the function refuse outside callers", async () => {
    const r = await connectJson(odgm.url, "oprc.odgm.v1.CollectionService/ApplyCollection", {
      collection: {
        name: "edge.Thing",
        functions: { poke: { url: "http://127.0.0.1:9/", stateless: true, access: "INTERNAL" } },
      },
    })
    expect(r.status).toBe(200)
    expect(r.body.collection.functions.poke.access).toBe("ACCESS_MODIFIER_INTERNAL")
    const outside = await fetch(`${odgm.url}/api/class/edge.Thing/0/invokes/poke`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    })
    expect(outside.status).toBe(403)
  })

  test("unknown fields on ODGM are 400 with the path", async () => {
    const r = await connectJson(odgm.url, "oprc.odgm.v1.ObjectService/GetObject", { cls: "edge.Thing", idd: "x" })
    expect(r.status).toBe(400)
    expect(r.body.message).toContain("\"idd\"")
    expect(r.body.message).toContain("did you mean \"id\"")
  })
})
