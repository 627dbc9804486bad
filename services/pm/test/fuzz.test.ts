import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import fc from "fast-check"
import YAML from "yaml"
import { encodePackage } from "@oprc/models"
import { pkg as validPackage } from "../../../packages/models/test/arbitraries"
import { connectJson, http, startPm } from "./support"

let pm: Awaited<ReturnType<typeof startPm>>
let api: ReturnType<typeof http>
const statuses = new Map<number, number>()

beforeAll(async () => {
  pm = await startPm()
  api = http(pm.url)
})
afterAll(async () => {
  await pm.stop()
})

type Json = null | boolean | number | string | Array<Json> | { [k: string]: Json }

/** Replaces, deletes or adds something at a random place of a JSON tree. */
const mutate = (value: Json, path: ReadonlyArray<number>, replacement: Json, op: number): Json => {
  if (path.length === 0 || value === null || typeof value !== "object") return op === 0 ? replacement : value
  const [step, ...rest] = path as [number, ...Array<number>]
  if (Array.isArray(value)) {
    if (value.length === 0) return [replacement]
    const i = step % value.length
    if (rest.length === 0 && op === 1) return value.filter((_, j) => j !== i)
    return value.map((v, j) => (j === i ? mutate(v, rest, replacement, op) : v))
  }
  const keys = Object.keys(value)
  if (keys.length === 0 || op === 2) return { ...value, [`x${step}`]: replacement }
  const k = keys[step % keys.length]!
  if (rest.length === 0 && op === 1) {
    const { [k]: _, ...others } = value
    return others
  }
  return { ...value, [k]: mutate(value[k]!, rest, replacement, op) }
}

const record = (status: number) => {
  statuses.set(status, (statuses.get(status) ?? 0) + 1)
  return status
}

const acceptable = (status: number) => status === 201 || status === 400 || status === 409 || status === 413

describe("fuzzing package creation: never a 5xx, and the server stays up", () => {
  test("valid packages with one random mutation, as JSON and YAML (700 cases)", async () => {
    await fc.assert(
      fc.asyncProperty(
        validPackage,
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
        fc.integer({ min: 0, max: 3 }),
        fc.boolean(),
        async (p, path, replacement, op, asYaml) => {
          const body = mutate(encodePackage(p) as unknown as Json, path, replacement, op)
          const r = asYaml
            ? await api.post("/api/v1/packages", YAML.stringify(body), "application/yaml")
            : await api.post("/api/v1/packages", JSON.stringify(body))
          expect(acceptable(record(r.status))).toBe(true)
          if (r.status === 400) expect(Array.isArray(r.body.error.violations)).toBe(true)
        },
      ),
      { numRuns: 700 },
    )
  }, 60_000)

  test("arbitrary bodies and content types (300 cases)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.json({ maxDepth: 4 }),
          fc.uint8Array({ maxLength: 100 }).map((b) => new TextDecoder().decode(b)),
        ),
        fc.constantFrom(
          "application/json",
          "application/yaml",
          "text/yaml",
          "application/x-yaml",
          "text/plain",
          "application/json; charset=utf-8",
        ),
        async (body, contentType) => {
          const r = await api.post("/api/v1/packages", body, contentType)
          expect(acceptable(record(r.status))).toBe(true)
        },
      ),
      { numRuns: 300 },
    )
  }, 60_000)

  test("Connect JSON requests with arbitrary package messages (200 cases)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 4 }), async (value) => {
        const r = await connectJson(pm.url, "oprc.pm.v1.PackageService/CreatePackage", { package: value })
        expect(r.status < 500).toBe(true)
        record(r.status)
      }),
      { numRuns: 200 },
    )
  }, 60_000)

  test("after 1,200 hostile requests the server is healthy and still creates packages", async () => {
    expect((await fetch(`${pm.url}/healthz`)).status).toBe(200)
    const r = await api.post("/api/v1/packages", { name: "after-fuzz", version: "1.0.0" })
    expect(r.status).toBe(201)
    // The fuzz exercised both outcomes, not only rejections.
    expect(statuses.get(400) ?? 0).toBeGreaterThan(100)
    expect(statuses.get(201) ?? 0).toBeGreaterThan(10)
    expect([...statuses.keys()].every((s) => s < 500)).toBe(true)
  })
})
