import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { Code, ConnectError, createClient } from "@connectrpc/connect"
import { Effect } from "effect"
import { decodePackage } from "@oprc/models"
import { pmv1 } from "@oprc/proto"
import { inMemoryTransport } from "@oprc/rpc"
import { Packages } from "../src/packages/Packages"
import { packageRpc } from "../src/rpc/PackageRpc"
import { perPage, perRevision } from "../src/storage/answers"
import { inMemoryPmRuntime } from "./support"

// Reads answer with one object per stored revision (storage/answers.ts), which the server turns
// into one encoding per revision. What a user must never see is a stale answer: after an update
// the new version, after a delete NOT_FOUND, in single reads and in pages alike.

const runtime = inMemoryPmRuntime()
let client: ReturnType<typeof createClient<typeof pmv1.PackageService>>
beforeAll(async () => {
  client = createClient(pmv1.PackageService, await runtime.runPromise(inMemoryTransport([packageRpc])))
})
afterAll(() => runtime.dispose())

const pkg = (name: string, version: string) => ({
  name,
  version,
  classes: [{ key: "Thing", bindings: [{ name: "run", function: "run" }] }],
  functions: [{ key: "run", provision: { url: "http://fn:8080" } }],
})

describe("answers per stored revision", () => {
  test("Packages hands out one object per revision, and a new one after an update", async () => {
    const packages = await runtime.runPromise(Effect.gen(function*() {
      return yield* Packages
    }))
    await runtime.runPromise(Effect.flatMap(decodePackage(pkg("ans-same", "1.0.0")), packages.create))
    const [a, b] = await runtime.runPromise(Effect.all([packages.get("ans-same"), packages.get("ans-same")]))
    expect(a).toBe(b)
    const updated = await runtime.runPromise(packages.update({ ...a, version: "1.1.0" }))
    const c = await runtime.runPromise(packages.get("ans-same"))
    expect(c).not.toBe(a)
    expect([c.version, c.revision]).toEqual(["1.1.0", updated.revision])
  })

  test("GetPackage and ListPackages show an update at once and a delete as NOT_FOUND / gone", async () => {
    await client.createPackage({ package: pkg("ans-a", "1.0.0") })
    await client.createPackage({ package: pkg("ans-b", "1.0.0") })
    const list = () => client.listPackages({ namePattern: "ans-?", limit: 10 })
    for (let i = 0; i < 3; i++) {
      expect((await client.getPackage({ name: "ans-a" })).package?.version).toBe("1.0.0")
      expect((await list()).packages.map((p) => `${p.name}@${p.version}`)).toEqual(["ans-a@1.0.0", "ans-b@1.0.0"])
    }
    const current = (await client.getPackage({ name: "ans-a" })).package!
    await client.updatePackage({ package: { ...current, version: "2.0.0" } })
    expect((await client.getPackage({ name: "ans-a" })).package?.version).toBe("2.0.0")
    expect((await list()).packages.map((p) => `${p.name}@${p.version}`)).toEqual(["ans-a@2.0.0", "ans-b@1.0.0"])
    await client.deletePackage({ name: "ans-b" })
    const gone = await client.getPackage({ name: "ans-b" }).then(() => undefined, (e) => ConnectError.from(e))
    expect(gone?.code).toBe(Code.NotFound)
    expect((await list()).packages.map((p) => p.name)).toEqual(["ans-a"])
  })
})

describe("perRevision and perPage", () => {
  test("perRevision builds once per object", () => {
    let built = 0
    const answer = perRevision((k: { readonly n: number }) => ({ n: k.n, built: ++built }))
    const k1 = { n: 1 }
    expect(answer(k1)).toBe(answer(k1))
    expect(answer({ n: 1 })).not.toBe(answer(k1))
    expect(built).toBe(2)
  })

  test("perPage answers a page again only while the query, every item and the cursor are the same", () => {
    const answer = perPage((items: ReadonlyArray<{ readonly id: string }>, next) => ({
      ids: items.map((i) => i.id),
      next,
    }))
    const a = { id: "a" }, b = { id: "b" }
    const first = answer("q", [a, b], "c1", 100)
    expect(answer("q", [a, b], "c1", 100)).toBe(first)
    expect(answer("q", [a, { id: "b" }], "c1", 100)).not.toBe(first) // an item written since
    expect(answer("q", [a], "c1", 50)).not.toBe(answer("q", [a, b], "c1", 100)) // one gone
    expect(answer("q", [a, b], undefined, 100).next).toBeUndefined()
    expect(answer("other", [a, b], "c1", 100)).not.toBe(answer("q", [a, b], "c1", 100))
  })

  test("perPage holds at most its budget of items, least recent pages first out", () => {
    const answer = perPage((items: ReadonlyArray<object>) => ({ size: items.length }), { items: 10, bytes: 1e9 })
    const items = Array.from({ length: 4 }, () => ({}))
    const q1 = answer("q1", items, undefined, 1)
    answer("q2", items, undefined, 1)
    expect(answer("q1", items, undefined, 1)).toBe(q1) // 8 items held
    answer("q3", items, undefined, 1) // 12 > 10: q2, the least recent, goes
    expect(answer("q1", items, undefined, 1)).toBe(q1)
    const q2 = answer("q2", items, undefined, 1)
    expect(answer("q2", items, undefined, 1)).toBe(q2)
    // A page larger than the budget is answered but not kept.
    const big = Array.from({ length: 11 }, () => ({}))
    expect(answer("big", big, undefined, 1)).not.toBe(answer("big", big, undefined, 1))
  })

  test("perPage holds at most its budget of the stored bytes its pages were read from", () => {
    const answer = perPage((items: ReadonlyArray<object>) => ({ size: items.length }), { items: 1000, bytes: 100 })
    const one = [{}]
    const q1 = answer("q1", one, undefined, 40)
    const q2 = answer("q2", one, undefined, 40)
    expect(answer("q1", one, undefined, 40)).toBe(q1) // 80 bytes held
    answer("q3", one, undefined, 40) // 120 > 100: q2, the least recent, goes
    expect(answer("q1", one, undefined, 40)).toBe(q1)
    expect(answer("q2", one, undefined, 40)).not.toBe(q2)
    // A page read from more than the whole budget is answered but not kept.
    expect(answer("huge", one, undefined, 101)).not.toBe(answer("huge", one, undefined, 101))
  })
})
