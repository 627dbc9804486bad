import { describe, expect, test } from "bun:test"
import { Code, ConnectError, createClient } from "@connectrpc/connect"
import { createGrpcTransport } from "@connectrpc/connect-node"
import { Effect, Exit, Redacted } from "effect"
import { functionv1, odgmv1, pmv1 } from "@oprc/proto"
import { classCredential, makeAuthorizer, type Need, normalizeConnectJson, scanJsonText, startServer } from "../src"
import { testServer } from "./fixture"

describe("Connect JSON pre-pass", () => {
  test("short enum names become proto names in messages, lists and maps; full names stay", () => {
    const body: any = {
      package: {
        name: "p",
        classes: [{
          key: "A",
          state: { consistency: "strong" },
          bindings: [{ name: "f", access: "INTERNAL" }, { name: "g", access: "ACCESS_MODIFIER_PRIVATE" }],
        }],
      },
    }
    expect(normalizeConnectJson(pmv1.CreatePackageRequestSchema, body)).toEqual([])
    expect(body.package.classes[0].state.consistency).toBe("CONSISTENCY_STRONG")
    expect(body.package.classes[0].bindings.map((b: any) => b.access)).toEqual([
      "ACCESS_MODIFIER_INTERNAL",
      "ACCESS_MODIFIER_PRIVATE",
    ])
    const collection: any = { collection: { name: "c", functions: { f: { access: "Private" } } } }
    expect(normalizeConnectJson(odgmv1.ApplyCollectionRequestSchema, collection)).toEqual([])
    expect(collection.collection.functions.f.access).toBe("ACCESS_MODIFIER_PRIVATE")
  })

  test("unknown fields and values are reported with their path; proto field names are accepted", () => {
    const v = normalizeConnectJson(pmv1.CreatePackageRequestSchema, {
      package: { name: "p", clases: [], class_es: 1, classes: [{ key: "A", bindings: [{ access: "SECRET" }] }] },
    })
    expect(v).toEqual([
      { path: "package.clases", message: "unknown field \"clases\"; did you mean \"classes\"?" },
      { path: "package.class_es", message: "unknown field \"class_es\"; did you mean \"classes\"?" },
      {
        path: "package.classes[0].bindings[0].access",
        message: "unknown value \"SECRET\"; use one of PUBLIC, INTERNAL, PRIVATE",
      },
    ])
    expect(normalizeConnectJson(pmv1.GetPackageRequestSchema, { name: "p" })).toEqual([])
    expect(normalizeConnectJson(odgmv1.PutObjectRequestSchema, { cls: "c", create_only: true })).toEqual([])
  })

  test("at most 100 violations, then a count", () => {
    const wide = Object.fromEntries(Array.from({ length: 250 }, (_, i) => [`x${i}`, 1]))
    const v = normalizeConnectJson(pmv1.GetPackageRequestSchema, wide)
    expect(v.length).toBe(101)
    expect(v[100]).toEqual({ path: "", message: "150 more violations not shown" })
  })
})

describe("JSON text scan", () => {
  test("depth and value count are found before parsing; strings do not count", () => {
    expect(scanJsonText("[[[]]]", 3)).toBeUndefined()
    expect(scanJsonText("[[[[]]]]", 3)).toEqual({ kind: "depth", limit: 3, offset: 3 })
    expect(scanJsonText("[\"[[[[[\", \"\\\"[[[[\"]", 2)).toBeUndefined()
    expect(scanJsonText("[1,2,3]", 10, 2)).toBeUndefined()
    expect(scanJsonText("[1,2,3,4]", 10, 2)).toEqual({ kind: "values", limit: 2, offset: 6 })
  })
})

describe("authorizer", () => {
  const rules = (
    p: string,
  ): Need => (p.startsWith("GET ")
    ? { dataPlane: "reader" }
    : p.includes("Admin")
    ? "admin"
    : { dataPlane: "deployer" })
  const auth = makeAuthorizer({
    tokens: [{ name: "r", token: Redacted.make("read"), role: "reader" }, {
      name: "a",
      token: Redacted.make("adm"),
      role: "admin",
    }],
    internalSecret: Redacted.make("s3cret"),
    rules,
  })
  const run = (procedure: string, headers: Record<string, string>) => {
    const exit = Effect.runSyncExit(auth.authorize({ procedure, headers: new Headers(headers) }))
    return Exit.isSuccess(exit) ? "ok" : String((exit.cause as any).reasons?.[0]?.error?._tag ?? "failed")
  }

  test("health is public, roles are ranked, the internal credential is data plane only", () => {
    expect(run("/grpc.health.v1.Health/Check", {})).toBe("ok")
    expect(run("GET /x", {})).toBe("Unauthenticated")
    expect(run("GET /x", { authorization: "Bearer read" })).toBe("ok")
    expect(run("PUT /x", { authorization: "Bearer read" })).toBe("PermissionDenied")
    expect(run("/svc.Admin/Do", { authorization: "Bearer adm" })).toBe("ok")
    expect(run("PUT /x", { "x-oprc-internal-token": "s3cret" })).toBe("ok")
    expect(run("/svc.Admin/Do", { "x-oprc-internal-token": "s3cret" })).toBe("PermissionDenied")
    expect(run("PUT /x", { "x-oprc-internal-token": "s3cre" })).toBe("Unauthenticated")
  })

  test("the class comes from a verified class credential only", () => {
    expect(auth.identify({ headers: new Headers({ "oprc-caller-token": classCredential("s3cret", "a.B") }) })).toEqual({
      internal: true,
      callerClass: "a.B",
    })
    expect(auth.identify({ headers: new Headers({ "oprc-caller-token": classCredential("other", "a.B") }) })).toEqual({
      internal: false,
      callerClass: undefined,
    })
    expect(auth.identify({ headers: new Headers({ "x-oprc-internal-token": "s3cret", "x-oprc-caller-class": "a.B" }) }))
      .toEqual({
        internal: true,
        callerClass: undefined,
      })
    // The transport's plain record, when it has one, is read instead of the fetch Headers.
    const fields = { "oprc-caller-token": classCredential("s3cret", "a.B") }
    expect(auth.identify({ headers: new Headers(), fields })).toEqual({ internal: true, callerClass: "a.B" })
  })
})

describe("body budget", () => {
  test("gRPC bodies (read by connect-es) count against server.bodyBudgetBytes too", async () => {
    const server = await startServer(testServer({ calls: 0 }, { bodyBudgetBytes: 4096 }))
    try {
      const client = createClient(functionv1.FunctionService, createGrpcTransport({ baseUrl: server.url }))
      const small = new TextEncoder().encode(JSON.stringify({ echo: "x" }))
      expect((await client.invoke({ payload: small })).status).toBe(functionv1.InvocationStatus.OK)
      const big = new TextEncoder().encode(JSON.stringify({ echo: "x".repeat(64 * 1024) }))
      const code = await client.invoke({ payload: big }).then(() => "ok", (e: unknown) => ConnectError.from(e).code)
      expect(code).toBe(Code.Unavailable)
      // The budget is given back: small calls keep working.
      expect((await client.invoke({ payload: small })).status).toBe(functionv1.InvocationStatus.OK)
    } finally {
      await server.stop()
    }
  })
})
