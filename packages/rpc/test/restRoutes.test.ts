import { describe, expect, test } from "bun:test"
import { Effect } from "effect"
import fc from "fast-check"
import { compileRoutes, json, type RestRoute, route } from "../src/server/rest"

// The matcher tries only the routes whose first two segments can be the path's. These tests hold
// it to the plain reading of a route table: every route in order, the first whose pattern and
// method match wins, and a path some route has with other methods is 405.

const ok = () => Effect.succeed(json(200, {}))
const routes: ReadonlyArray<RestRoute<never>> = [
  route("GET", "/api/:kind/special", ok),
  route("GET", "/api/class/:cls/objects/:id", ok),
  route("PUT", "/api/class/:cls/objects/:id", ok),
  route("GET", "/api/class/:cls/objects", ok),
  route("GET", "/api/class/*rest", ok),
  route("POST", "/api/collections/:name", ok),
  route("GET", "/api", ok),
  route("DELETE", "/files/*path", ok),
  route("GET", "/:first/x/:third", ok),
]

/** The reference: each route's own regex, in order (what compileRoutes did before the buckets). */
const reference = (method: string, path: string) => {
  let pathMatched = false
  for (const r of routes) {
    const names: Array<string> = []
    const source = r.path.split("/").map((seg) => {
      if (seg.startsWith(":")) return names.push(seg.slice(1)), "([^/]+)"
      if (seg.startsWith("*")) return names.push(seg.slice(1)), "(.*)"
      return seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
    }).join("/")
    const m = new RegExp(`^${source}/?$`).exec(path)
    if (!m) continue
    pathMatched = true
    if (r.method !== method && !(method === "HEAD" && r.method === "GET")) continue
    const params: Record<string, string> = {}
    names.forEach((n, i) => {
      const raw = m[i + 1] ?? ""
      try {
        params[n] = decodeURIComponent(raw)
      } catch {
        params[n] = raw
      }
    })
    return { path: r.path, method: r.method, params }
  }
  return pathMatched ? "method-not-allowed" : undefined
}

const match = compileRoutes(routes)
const shown = (m: ReturnType<typeof match>) =>
  typeof m === "object" ? { path: m.route.path, method: m.route.method, params: m.params } : m

describe("REST route matching", () => {
  test("the first route in order wins, parameters decoded", () => {
    expect(shown(match("GET", "/api/class/special"))).toEqual({
      path: "/api/:kind/special",
      method: "GET",
      params: { kind: "class" },
    })
    expect(shown(match("GET", "/api/class/a%2Fb/objects/x%20y"))).toEqual({
      path: "/api/class/:cls/objects/:id",
      method: "GET",
      params: { cls: "a/b", id: "x y" },
    })
    expect(shown(match("GET", "/api/class/c/objects/"))).toEqual({
      path: "/api/class/:cls/objects",
      method: "GET",
      params: { cls: "c" },
    })
    expect(shown(match("HEAD", "/api"))).toEqual({ path: "/api", method: "GET", params: {} })
    expect(shown(match("GET", "/y/x/z"))).toEqual({
      path: "/:first/x/:third",
      method: "GET",
      params: { first: "y", third: "z" },
    })
  })

  test("a path some route has with other methods is 405; an unknown path is not a route", () => {
    expect(match("DELETE", "/api/class/c/objects/o")).toBe("method-not-allowed")
    expect(match("GET", "/api/collections/n")).toBe("method-not-allowed")
    expect(match("GET", "/api/nothing")).toBeUndefined()
    expect(match("POST", "/oprc.pm.v1.PackageService/GetPackage")).toBeUndefined()
  })

  test("the same answer as trying every route in order, for any path", () => {
    const segment = fc.constantFrom("api", "class", "objects", "special", "collections", "x", "", "%41", "%zz")
    const path = fc.array(segment, { minLength: 0, maxLength: 5 }).map((segs) => `/${segs.join("/")}`)
    const method = fc.constantFrom("GET", "PUT", "POST", "DELETE", "HEAD")
    fc.assert(
      fc.property(method, path, (m, p) => {
        expect(shown(match(m, p))).toEqual(reference(m, p))
      }),
      { numRuns: 50_000 },
    )
  })
})
