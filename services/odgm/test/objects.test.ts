import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { partitionOf } from "../src/domain/partition.ts"
import { rest, startOdgm } from "./support/odgm.ts"

let odgm: Awaited<ReturnType<typeof startOdgm>>
let api: ReturnType<typeof rest>
const cls = "shop.Item"
const base = `/api/class/${cls}`

beforeAll(async () => {
  odgm = await startOdgm()
  api = rest(odgm.url)
  const applied = await api.put(`/api/collections/${cls}`, {
    partitionCount: 4,
    functions: {},
  })
  expect(applied.status).toBe(200)
})
afterAll(() => odgm.stop())

describe("objects over REST", () => {
  test("put, get, merge, delete with versions", async () => {
    const created = await api.put(`${base}/-/objects/a1`, { entries: { name: "apple", price: 3, tags: ["fruit"] } })
    expect(created.status).toBe(201)
    expect(created.json).toMatchObject({
      cls,
      id: "a1",
      version: "1",
      entries: { name: "apple", price: 3, tags: ["fruit"] },
    })
    expect(created.json.partition).toBe(partitionOf("a1", 4))
    expect(created.headers.get("etag")).toBe("\"1\"")

    // "-" and "auto" pick hash(id) mod partition count; the explicit partition reaches the same object.
    for (const p of ["-", "auto", String(partitionOf("a1", 4))]) {
      const got = await api.get(`${base}/${p}/objects/a1`)
      expect(got.status).toBe(200)
      expect(got.json.entries.name).toBe("apple")
    }
    // Another partition holds no such object.
    expect((await api.get(`${base}/${(partitionOf("a1", 4) + 1) % 4}/objects/a1`)).status).toBe(404)

    const merged = await api.patch(`${base}/-/objects/a1`, { entries: { price: 4 }, delete: ["tags"] }, {
      "if-match": "\"1\"",
    })
    expect(merged.status).toBe(200)
    expect(merged.json).toMatchObject({ version: "2", entries: { name: "apple", price: 4 } })
    expect(merged.json.entries.tags).toBeUndefined()

    const stale = await api.put(`${base}/-/objects/a1`, { entries: { name: "pear" } }, { "if-match": "\"1\"" })
    expect(stale.status).toBe(409)
    expect(stale.json.error.code).toBe("aborted")
    expect((await api.get(`${base}/-/objects/a1`)).json.entries.name).toBe("apple")

    const createOnly = await api.put(`${base}/-/objects/a1`, { entries: {} }, { "if-none-match": "*" })
    expect(createOnly.status).toBe(409)

    const replaced = await api.put(`${base}/-/objects/a1?expectedVersion=2`, { entries: { name: "pear" } })
    expect(replaced.json).toMatchObject({ version: "3", entries: { name: "pear" } })
    expect(replaced.json.entries.price).toBeUndefined()

    expect((await api.delete(`${base}/-/objects/a1?expectedVersion=2`)).status).toBe(409)
    expect((await api.delete(`${base}/-/objects/a1`)).status).toBe(200)
    expect((await api.get(`${base}/-/objects/a1`)).status).toBe(404)
    expect((await api.delete(`${base}/-/objects/a1`)).status).toBe(404)
  })

  test("bytes entries round-trip as {$bytes}", async () => {
    const put = await api.put(`${base}/-/objects/blob`, {
      entries: { raw: { $bytes: Buffer.from([0, 1, 255]).toString("base64") } },
    })
    expect(put.status).toBe(201)
    expect((await api.get(`${base}/-/objects/blob`)).json.entries.raw).toEqual({ $bytes: "AAH/" })
  })

  test("list with prefix, limit and cursor, over all partitions or one", async () => {
    for (let i = 0; i < 25; i++) {
      expect((await api.put(`${base}/-/objects/l-${String(i).padStart(2, "0")}`, { entries: { i } })).status).toBe(201)
    }
    await api.put(`${base}/-/objects/other`, { entries: {} })
    const seen: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const page = await api.get(
        `${base}/-/objects?prefix=l-&limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
      )
      expect(page.status).toBe(200)
      seen.push(...page.json.objects.map((o: { id: string }) => o.id))
      cursor = page.json.nextCursor
      pages++
    } while (cursor)
    expect(pages).toBe(3)
    expect(seen.sort()).toEqual(Array.from({ length: 25 }, (_, i) => `l-${String(i).padStart(2, "0")}`))
    const p0 = await api.get(`${base}/0/objects?prefix=l-&limit=1000&entries=true`)
    expect(p0.json.objects.every((o: { partition: number; entries: object }) => o.partition === 0 && o.entries)).toBe(
      true,
    )
    expect(p0.json.objects.length).toBe(seen.filter((id) => partitionOf(id, 4) === 0).length)
  })

  test("bad input answers a clear 4xx", async () => {
    const cases: Array<[string, string, unknown, number, string]> = [
      ["GET", `${base}/-/objects/UPPER`, undefined, 400, "invalid_argument"],
      ["GET", `${base}/-/objects/${"x".repeat(161)}`, undefined, 400, "invalid_argument"],
      ["GET", `/api/class/no.Such/-/objects/a`, undefined, 404, "not_found"],
      ["GET", `${base}/9/objects/a`, undefined, 400, "invalid_argument"],
      ["GET", `${base}/x/objects/a`, undefined, 400, "invalid_argument"],
      ["PUT", `${base}/-/objects/a`, "{not json", 400, "invalid_argument"],
      ["PUT", `${base}/-/objects/a`, { entries: { "has space": 1 } }, 400, "invalid_argument"],
      ["PUT", `${base}/-/objects/a`, { entries: {}, extra: 1 }, 400, "invalid_argument"],
      ["PUT", `${base}/-/objects/a`, [1, 2], 400, "invalid_argument"],
      ["PUT", `${base}/-/objects/a?expectedVersion=abc`, { entries: {} }, 400, "invalid_argument"],
      ["GET", `${base}/-/objects?limit=5000`, undefined, 400, "invalid_argument"],
      ["GET", `${base}/-/objects?cursor=garbage`, undefined, 400, "invalid_argument"],
      ["POST", `${base}/-/objects/a`, undefined, 405, "unimplemented"],
    ]
    for (const [method, path, body, status, code] of cases) {
      const r = await api.call(method, path, body)
      expect({ method, path, status: r.status, code: r.json?.error?.code }).toEqual({ method, path, status, code })
    }
    const huge = await api.put(`${base}/-/objects/big`, { entries: { blob: "x".repeat(5 * 1024 * 1024) } })
    expect(huge.status).toBe(413)
  })

  test("the partition count of a collection cannot change", async () => {
    const r = await api.put(`/api/collections/${cls}`, { partitionCount: 8 })
    expect(r.status).toBe(409)
    expect(r.json.error.message).toContain("partition count cannot change")
  })
})
