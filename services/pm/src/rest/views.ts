import { Effect, Schema } from "effect"
import { Class, Function as FunctionSchema } from "@oprc/models"
import { json, type RestRequest, route } from "@oprc/rpc"
import type { ClusterRegistry, ClusterState } from "../clusters/ClusterRegistry"
import {
  type CatalogClass,
  type CatalogFunction,
  catalogPage,
  catalogSource,
  classesOf,
  functionsOf,
} from "../packages/catalog"
import type { Packages } from "../packages/Packages"
import { perPage, perRevision } from "../storage/answers"
import { intParam, param, pathParam } from "./common"

const clusterJson = (c: ClusterState) => ({
  name: c.name,
  url: c.url,
  health: c.health,
  breaker: c.breaker,
  availability: c.availability,
  nodeCount: c.nodeCount,
  readyNodes: c.readyNodes,
  message: c.message,
  ...(c.lastChecked === undefined ? {} : { lastChecked: new Date(c.lastChecked).toISOString() }),
  consecutiveFailures: c.consecutiveFailures,
})

/** /api/v1/clusters[/health|/{name}] */
export const clusterRoutes = (registry: ClusterRegistry["Service"]) => [
  route("GET", "/api/v1/clusters", () => Effect.map(registry.list, (cs) => json(200, { items: cs.map(clusterJson) }))),
  route("GET", "/api/v1/clusters/health", () =>
    Effect.map(registry.list, (cs) =>
      json(200, {
        healthy: cs.filter((c) => c.health === "Healthy").length,
        total: cs.length,
        clusters: cs.map((c) => ({
          name: c.name,
          health: c.health,
          breaker: c.breaker,
          availability: c.availability,
          message: c.message,
        })),
      }))),
  route(
    "GET",
    "/api/v1/clusters/:name",
    (request) => Effect.map(registry.get(pathParam(request, "name")), (c) => json(200, clusterJson(c))),
  ),
]

// Catalog entries are one object per stored revision (packages/catalog.ts): each entry's file form
// is encoded once (the Schema encode was most of a page's cost), and a page of the same entries is
// the same body, whose JSON text the server reuses.
const encodeClass = Schema.encodeSync(Class)
const encodeFunction = Schema.encodeSync(FunctionSchema)
const classJson = perRevision((c: CatalogClass) => ({
  globalKey: c.globalKey,
  packageName: c.packageName,
  packageVersion: c.packageVersion,
  class: encodeClass(c.cls),
}))
const functionJson = perRevision((f: CatalogFunction) => ({
  globalKey: f.globalKey,
  packageName: f.packageName,
  packageVersion: f.packageVersion,
  function: encodeFunction(f.function),
}))
const catalogBody = <A extends object>(json: (a: A) => object) =>
  perPage((items: ReadonlyArray<A>, next: string | undefined) => ({
    items: items.map(json),
    ...(next === undefined ? {} : { nextCursor: next }),
  }))
const classesBody = catalogBody(classJson)
const functionsBody = catalogBody(functionJson)

/**
 * /api/v1/classes and /api/v1/functions: the catalog over every stored package (`?package=` narrows
 * it), in file form, in pages (`?limit=` default 100, at most 1000; `?cursor=` from `nextCursor`).
 */
export const catalogRoutes = (packages: Packages["Service"]) => {
  const source = catalogSource(packages)
  const query = (request: RestRequest) =>
    Effect.map(intParam(request, "limit"), (limit) => ({
      packageName: param(request, "package", "packageName", "package_name"),
      limit,
      cursor: param(request, "cursor", "pageToken"),
    }))
  return [
    route("GET", "/api/v1/classes", (request) =>
      Effect.gen(function*() {
        const q = yield* query(request)
        const p = yield* catalogPage(source, classesOf, q)
        return json(200, classesBody(JSON.stringify(q), p.items, p.nextCursor, p.bytes))
      })),
    route("GET", "/api/v1/functions", (request) =>
      Effect.gen(function*() {
        const q = yield* query(request)
        const p = yield* catalogPage(source, functionsOf, q)
        return json(200, functionsBody(JSON.stringify(q), p.items, p.nextCursor, p.bytes))
      })),
  ]
}
