import { Duration, Effect, Option, Stream } from "effect"
import { decodeDeployment, type Deployment, DeploymentPhase, encodeDeployment, ValidationError } from "@oprc/models"
import { json, readBody, type RestRequest, route } from "@oprc/rpc"
import type { Deployments } from "../deployments/Deployments"
import type { Packages } from "../packages/Packages"
import { withReferences } from "../packages/references"
import { checkName } from "../rpc/names"
import { perPage, perRevision } from "../storage/answers"
import { expectedRevision, intParam, param, pathParam } from "./common"

const MAX_WAIT_MS = 60_000

/**
 * The file form of the spec, with the status in full (a phase of Pending or a generation of 0 is
 * information here); once per deployment object, which reads of an unchanged deployment share
 * (storage/answers.ts).
 */
const toJson = perRevision((d: Deployment): object => ({
  ...encodeDeployment(d),
  ...(d.status === undefined ? {} : { status: d.status }),
}))
const listBody = perPage((items: ReadonlyArray<Deployment>, next: string | undefined) => ({
  items: items.map(toJson),
  ...(next === undefined ? {} : { nextCursor: next }),
}))

const decodeBody = (request: RestRequest) => Effect.flatMap(readBody(request), decodeDeployment)

const phases: ReadonlyArray<string> = DeploymentPhase.literals

/** /api/v1/deployments[/{key}], with `?waitFor=<Phase>&timeoutMs=N` on GET as a long poll ("watch until"). */
export const deploymentRoutes = (deployments: Deployments["Service"], packages: Packages["Service"]) => {
  const resolved = withReferences(packages)
  const waitFor = (request: RestRequest, key: string) =>
    Effect.gen(function*() {
      const phase = param(request, "waitFor")
      if (phase === undefined || phase === "") return yield* deployments.get(key)
      if (!phases.includes(phase)) {
        return yield* ValidationError.single("waitFor", `expected one of ${phases.join(", ")}`)
      }
      const timeout = Math.min((yield* intParam(request, "timeoutMs")) ?? 30_000, MAX_WAIT_MS)
      const reached = yield* deployments.watch(key).pipe(
        Stream.filter((d: Deployment) => d.status?.phase === phase),
        Stream.runHead,
        Effect.timeoutOption(Duration.millis(timeout)),
        Effect.map(Option.flatten),
      )
      // Timed out (or deleted meanwhile): answer with the state as it is; the phase tells the client.
      return Option.isSome(reached) ? reached.value : yield* deployments.get(key)
    })

  return [
    route("GET", "/api/v1/deployments", (request) =>
      Effect.gen(function*() {
        const query = {
          packageName: param(request, "packageName", "package_name"),
          classKey: param(request, "classKey", "class_key"),
          cluster: param(request, "cluster", "target_cluster", "target_env"),
          limit: yield* intParam(request, "limit"),
          cursor: param(request, "cursor"),
        }
        const page = yield* deployments.list(query)
        const items = yield* Effect.forEach(page.items, resolved, { concurrency: 8 })
        return json(200, listBody(JSON.stringify(query), items, page.nextCursor, page.bytes))
      })),
    route("POST", "/api/v1/deployments", (request) =>
      Effect.gen(function*() {
        const created = yield* deployments.create(yield* decodeBody(request))
        return { status: 201, body: toJson(created), headers: { location: `/api/v1/deployments/${created.key}` } }
      })),
    route("GET", "/api/v1/deployments/:key", (request) =>
      Effect.gen(function*() {
        const key = yield* checkName("key", pathParam(request, "key"))
        return json(200, toJson(yield* resolved(yield* waitFor(request, key))))
      })),
    ...(["POST", "PUT"] as const).map((method) =>
      route(method, "/api/v1/deployments/:key", (request) =>
        Effect.gen(function*() {
          const key = yield* checkName("key", pathParam(request, "key"))
          const input = yield* decodeBody(request)
          if (input.key !== key) return yield* ValidationError.single("key", `must be "${key}", the key in the path`)
          const updated = yield* deployments.update(input, yield* expectedRevision(request, input.revision))
          return json(200, toJson(updated))
        }))
    ),
    route("DELETE", "/api/v1/deployments/:key", (request) =>
      Effect.gen(function*() {
        const deleted = yield* deployments.delete(yield* checkName("key", pathParam(request, "key")))
        // Accepted: units are being removed; GET shows Deleting until the deployment is gone (404).
        return json(202, toJson(deleted))
      })),
    ...["cluster-mappings", "env-mappings"].map((alias) =>
      route("GET", `/api/v1/deployments/:key/${alias}`, (request) =>
        Effect.gen(function*() {
          const d = yield* deployments.get(yield* checkName("key", pathParam(request, "key")))
          return json(200, Object.fromEntries((d.status?.clusters ?? []).map((c) => [c.cluster, c.unitId])))
        }))
    ),
  ]
}
