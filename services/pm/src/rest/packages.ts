import { Effect } from "effect"
import { encodePackage, type Package, parsePackageText, ValidationError } from "@oprc/models"
import { json, type RestRequest, route } from "@oprc/rpc"
import type { Packages } from "../packages/Packages"
import { checkName } from "../rpc/names"
import { bodyText, boolParam, expectedRevision, intParam, listParam, param, pathParam } from "./common"

/**
 * A package from a request body: JSON, or YAML with `content-type: application/yaml`, so a
 * package file posts as it is. A file's `deployments:` are validated with it but not created
 * here (POST them to /api/v1/deployments), as in the Rust Oparaca.
 */
const decodeBody = (request: RestRequest) =>
  Effect.gen(function*() {
    const text = bodyText(request)
    if (text.trim() === "") {
      return yield* ValidationError.single("", "request body is empty: send a package as JSON or YAML")
    }
    const file = yield* parsePackageText(text, request.headers.get("content-type") ?? undefined)
    return file.package
  })

// Stored packages are one immutable object per revision: encode each once.
const encodedOf = new WeakMap<Package, unknown>()
const toJson = (pkg: Package): unknown => {
  let json = encodedOf.get(pkg)
  if (json === undefined) encodedOf.set(pkg, json = encodePackage(pkg))
  return json
}

/** /api/v1/packages[/{name}] */
export const packageRoutes = (packages: Packages["Service"]) => [
  route("GET", "/api/v1/packages", (request) =>
    Effect.gen(function*() {
      const page = yield* packages.list({
        namePattern: param(request, "namePattern", "name_pattern") ?? "",
        tags: listParam(request, "tags"),
        limit: yield* intParam(request, "limit"),
        cursor: param(request, "cursor"),
      })
      return json(200, {
        items: page.items.map(toJson),
        ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
      })
    })),
  route("POST", "/api/v1/packages", (request) =>
    Effect.gen(function*() {
      const created = yield* packages.create(yield* decodeBody(request))
      return { status: 201, body: toJson(created), headers: { location: `/api/v1/packages/${created.name}` } }
    })),
  route("GET", "/api/v1/packages/:name", (request) =>
    Effect.gen(function*() {
      const pkg = yield* packages.get(yield* checkName("name", pathParam(request, "name")))
      return json(200, toJson(pkg))
    })),
  ...(["POST", "PUT"] as const).map((method) =>
    route(method, "/api/v1/packages/:name", (request) =>
      Effect.gen(function*() {
        const name = yield* checkName("name", pathParam(request, "name"))
        const pkg = yield* decodeBody(request)
        if (pkg.name !== name) return yield* ValidationError.single("name", `must be "${name}", the name in the path`)
        const updated = yield* packages.update(
          pkg,
          yield* expectedRevision(request, pkg.revision),
          yield* boolParam(request, "force"),
        )
        return json(200, toJson(updated))
      }))
  ),
  route("DELETE", "/api/v1/packages/:name", (request) =>
    Effect.gen(function*() {
      const name = yield* checkName("name", pathParam(request, "name"))
      const deleted = yield* packages.delete(name, yield* boolParam(request, "cascade"))
      return json(200, { name, deletedDeployments: deleted })
    })),
]
