import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { Code, ConnectError, createClient } from "@connectrpc/connect"
import { commonv1, pmv1 } from "@oprc/proto"
import { inMemoryTransport } from "@oprc/rpc"
import { catalogRpc } from "../src/rpc/CatalogRpc"
import { packageRpc } from "../src/rpc/PackageRpc"
import { inMemoryPmRuntime } from "./support"

// The PM's Connect handlers over an in-memory transport: the same services and CallRunner as the
// one-port server (error mapping included), without a socket. The HTTP edge has its own tests.

const runtime = inMemoryPmRuntime()
let packages: ReturnType<typeof createClient<typeof pmv1.PackageService>>
let catalog: ReturnType<typeof createClient<typeof pmv1.CatalogService>>

beforeAll(async () => {
  const transport = await runtime.runPromise(inMemoryTransport([packageRpc, catalogRpc]))
  packages = createClient(pmv1.PackageService, transport)
  catalog = createClient(pmv1.CatalogService, transport)
})
afterAll(() => runtime.dispose())

const pkg = (name: string, classes: ReadonlyArray<string> = ["Thing"]) => ({
  name,
  version: "1.0.0",
  classes: classes.map((key) => ({ key, bindings: [{ name: "run", function: "run" }] })),
  functions: [{ key: "run", provision: { url: "http://fn:8080" } }],
})

const failure = async (call: Promise<unknown>) => {
  try {
    await call
  } catch (e) {
    return ConnectError.from(e)
  }
  throw new Error("the call succeeded")
}

describe("PackageService in memory", () => {
  test("a package is created, read back, and a duplicate is ALREADY_EXISTS", async () => {
    const created = await packages.createPackage({ package: pkg("mem-a") })
    expect(created.package?.name).toBe("mem-a")
    expect(created.package?.revision).toBeGreaterThan(0n)
    const got = await packages.getPackage({ name: "mem-a" })
    expect(got.package?.classes.map((c) => c.key)).toEqual(["Thing"])
    const dup = await failure(packages.createPackage({ package: pkg("mem-a") }))
    expect(dup.code).toBe(Code.AlreadyExists)
  })

  test("an unknown package is NOT_FOUND naming it", async () => {
    const e = await failure(packages.getPackage({ name: "mem-missing" }))
    expect(e.code).toBe(Code.NotFound)
    expect(e.rawMessage).toContain("mem-missing")
  })

  test("a request without its package is INVALID_ARGUMENT with the field in a FieldViolations detail", async () => {
    const e = await failure(packages.createPackage({}))
    expect(e.code).toBe(Code.InvalidArgument)
    const details = e.findDetails(commonv1.FieldViolationsSchema)
    expect(details[0]?.violations.map((v) => v.path)).toEqual(["package"])
  })
})

describe("CatalogService in memory", () => {
  test("classes of a package page in the order written, the cursor leads to the rest", async () => {
    await packages.createPackage({ package: pkg("mem-pc", ["Z", "A", "M"]) })
    const first = await catalog.listClasses({ packageName: "mem-pc", limit: 2 })
    expect(first.classes.map((c) => c.globalKey)).toEqual(["mem-pc.Z", "mem-pc.A"])
    const second = await catalog.listClasses({ packageName: "mem-pc", limit: 2, cursor: first.nextCursor })
    expect([second.classes.map((c) => c.globalKey), second.nextCursor]).toEqual([["mem-pc.M"], ""])
  })
})
