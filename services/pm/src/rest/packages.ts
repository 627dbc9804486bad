import { Effect } from "effect"
import { encodePackage, type Package, parsePackageText, ValidationError } from "@oprc/models"
import { json, type RestRequest, route } from "@oprc/rpc"
import type { Packages } from "../packages/Packages"
import { checkName } from "../rpc/names"
import { perPage, perRevision } from "../storage/answers"
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
    const file = yield* parsePackageText(text, request.header("content-type") ?? undefined)
    return file.package
  })

// Stored packages are one immutable object per revision (storage/answers.ts): encode each once, and
// answer a repeated page with the same body, so the server reuses its JSON text.
const toJson = perRevision((pkg: Package): object => encodePackage(pkg))
const listBody = perPage((items: ReadonlyArray<Package>, next: string | undefined) => ({
  items: items.map(toJson),
  ...(next === undefined ? {} : { nextCursor: next }),
}))

/** /api/v1/packages[/{name}] */
export const packageRoutes = (packages: Packages["Service"]) => [
  route("GET", "/api/v1/packages", (request) =>
    Effect.gen(function*() {
      const query = {
        namePattern: param(request, "namePattern", "name_pattern") ?? "",
        tags: listParam(request, "tags"),
        limit: yield* intParam(request, "limit"),
        cursor: param(request, "cursor"),
      }
      const page = yield* packages.list(query)
      return json(200, listBody(JSON.stringify(query), page.items, page.nextCursor, page.bytes))
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
