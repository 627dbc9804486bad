import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { readFileSync } from "node:fs"
import { makeTempDir, removeTempDir } from "@oprc/test-harness"
import { CrmTestServer } from "../../../test/crm-test-server"
import { makeCertificates } from "./certs"
import { connectJson, eventually, http, shopYaml, startPm } from "./support"

const dir = makeTempDir("pm-auth")
const certs = makeCertificates(dir)
const tokens = [
  { name: "ops", token: "admin-secret", role: "admin" },
  { name: "ci", token: "deployer-secret", role: "deployer" },
  { name: "dash", token: "reader-secret", role: "reader" },
] as const
const bearer = (t: string) => ({ authorization: `Bearer ${t}` })

let pm: Awaited<ReturnType<typeof startPm>>
let secure: CrmTestServer
let wrongToken: CrmTestServer

beforeAll(async () => {
  // A CRM behind mTLS that also wants the cluster token, and one whose token the PM gets wrong.
  secure = await CrmTestServer.start({
    name: "secure",
    token: "crm-secret",
    readyDelayMs: 50,
    tls: { ...certs.server, caFile: certs.ca, requireClientCert: true },
  })
  wrongToken = await CrmTestServer.start({ name: "locked", token: "crm-secret", readyDelayMs: 50 })
  pm = await startPm({
    auth: { tokens: tokens.map((t) => ({ ...t })) },
    clusters: [
      { name: "secure", url: secure.url, token: "crm-secret", tls: { caFile: certs.ca, ...certs.client } },
      { name: "locked", url: wrongToken.url, token: "not-it" },
    ],
  })
})
afterAll(async () => {
  await pm.stop()
  await secure.close()
  await wrongToken.close()
  removeTempDir(dir)
})

describe("bearer tokens with roles", () => {
  test("no token or a wrong one is 401 with a clear message; health and the OpenAPI document stay public", async () => {
    const none = await http(pm.url).get("/api/v1/packages")
    expect(none.status).toBe(401)
    expect(none.body.error).toEqual({
      code: "unauthenticated",
      message: "GET /api/v1/packages needs a bearer token: send \"Authorization: Bearer <token>\"",
    })
    const wrong = await http(pm.url, bearer("nope")).get("/api/v1/packages")
    expect([wrong.status, wrong.body.error.message]).toEqual([401, "invalid bearer token"])
    const malformed = await http(pm.url, { authorization: "Basic abc" }).get("/api/v1/packages")
    expect(malformed.body.error.message).toBe("the Authorization header must be \"Bearer <token>\"")
    const rpc = await connectJson(pm.url, "oprc.pm.v1.PackageService/ListPackages", {})
    expect([rpc.status, rpc.body.code]).toEqual([401, "unauthenticated"])
    expect((await fetch(`${pm.url}/healthz`)).status).toBe(200)
    expect((await fetch(`${pm.url}/openapi.json`)).status).toBe(200)
    expect((await connectJson(pm.url, "grpc.health.v1.Health/Check", {})).status).toBe(200)
  })

  test("reader reads; deployer also deploys; only admin changes packages (403 names role and need)", async () => {
    const admin = http(pm.url, bearer("admin-secret"))
    const deployer = http(pm.url, bearer("deployer-secret"))
    const reader = http(pm.url, bearer("reader-secret"))
    const asDeployer = await deployer.post("/api/v1/packages", await shopYaml(), "application/yaml")
    expect(asDeployer.status).toBe(403)
    expect(asDeployer.body.error).toEqual({
      code: "permission_denied",
      message: "token \"ci\" has role deployer, but POST /api/v1/packages needs admin",
    })
    expect((await admin.post("/api/v1/packages", await shopYaml(), "application/yaml")).status).toBe(201)
    expect((await reader.get("/api/v1/packages/shop")).status).toBe(200)
    expect((await reader.get("/api/v1/classes")).status).toBe(200)
    const readerDeploys = await reader.post("/api/v1/deployments", {
      key: "d1",
      packageName: "shop",
      classKey: "Order",
      targetClusters: ["secure"],
    })
    expect(readerDeploys.status).toBe(403)
    const rpc = await connectJson(
      pm.url,
      "oprc.pm.v1.DeploymentService/DeleteDeployment",
      { key: "d1" },
      bearer("reader-secret"),
    )
    expect([rpc.status, rpc.body.message]).toEqual([
      403,
      "token \"dash\" has role reader, but DeploymentService.DeleteDeployment needs deployer",
    ])
    expect(
      (await deployer.post("/api/v1/deployments", {
        key: "d1",
        packageName: "shop",
        classKey: "Order",
        targetClusters: ["secure"],
      })).status,
    ).toBe(201)
    expect((await deployer.delete("/api/v1/packages/shop")).status).toBe(403)
  })

  test("PM -> CRM over mTLS with the cluster's token; a wrong token shows as the cluster's reason", async () => {
    const running = await (async () => {
      const r = await fetch(`${pm.url}/api/v1/deployments/d1?waitFor=Running&timeoutMs=8000`, {
        headers: bearer("reader-secret"),
      })
      const body: any = await r.json()
      return body
    })()
    expect(running.status.phase).toBe("Running")
    expect(secure.appliedChanges("d1-secure").length).toBe(1)
    const deployer = http(pm.url, bearer("deployer-secret"))
    expect(
      (await deployer.post("/api/v1/deployments", {
        key: "d2",
        packageName: "shop",
        classKey: "Order",
        targetClusters: ["locked"],
      })).status,
    ).toBe(201)
    const d = await eventually("locked cluster refuses", async () => {
      const d = (await deployer.get("/api/v1/deployments/d2")).body
      return d.status.clusters[0].reason === "Unauthorized" ? d : undefined
    })
    expect(d.status.clusters[0].message).toContain("missing or wrong bearer token")
    expect(wrongToken.applied.length).toBe(0)
  })
})

describe("TLS", () => {
  test("with a certificate and key configured the PM serves HTTPS (REST and Connect) on its one port", async () => {
    const tlsPm = await startPm({ server: { host: "127.0.0.1", port: 8080, tls: certs.server } })
    try {
      expect(tlsPm.url.startsWith("https://")).toBe(true)
      const ca = readFileSync(certs.ca, "utf8")
      const res = await fetch(`${tlsPm.url}/api/v1/packages`, { tls: { ca } })
      expect(res.status).toBe(200)
      const rpc = await fetch(`${tlsPm.url}/oprc.pm.v1.ClusterService/ListClusters`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
        tls: { ca },
      })
      expect(rpc.status).toBe(200)
      await expect(fetch(`${tlsPm.url}/healthz`)).rejects.toThrow()
      const plain = await fetch(tlsPm.url.replace("https://", "http://") + "/healthz").catch((e: Error) => e)
      expect(plain instanceof Error || (plain as Response).status !== 200).toBe(true)
    } finally {
      await tlsPm.stop()
    }
  })
})
