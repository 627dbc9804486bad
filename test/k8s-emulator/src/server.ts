// The HTTP front: routes /api and /apis paths to the verbs, parses query options, renders
// Tables and Status errors. JSON only, HTTP/1.1 on loopback.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { createServer as createTlsServer } from "node:https"
import { defaultManager, parseJson, readBody, send, sendWritten } from "./httpio.ts"
import { type Api, PATCH_TYPES, pendingFinalizers, type Target, type WriteOptions } from "./api.ts"
import * as discovery from "./discovery.ts"
import { ApiError, badRequest, fieldError, invalidObject } from "./errors.ts"
import { listObjects } from "./list.ts"
import { openApiV2Json, openApiV2Protobuf } from "./openapi.ts"
import { objectFilter, parseFieldSelector, parseLabelSelector } from "./selectors.ts"
import { type IncludeObject, toTable, wantsTable } from "./table.ts"
import { isObject, type Obj, type ResourceType } from "./types.ts"
import { serveWatch, type WatchHub } from "./watch.ts"

export interface ServerContext {
  api: Api
  hub: WatchHub
  bookmarkIntervalMs: number
  /** Extra delay before every request is handled (test hook). */
  latencyMs: () => number
  token?: string | undefined
  address: () => string
  /** Called with `METHOD path?query` for every request (test hook). */
  onRequest: (line: string) => void
}

const notFoundPath = () => new ApiError(404, "NotFound", "the server could not find the requested resource", {})

/** Storages configured with ReturnDeletedObject on a real server. */
const RETURNS_DELETED_OBJECT = new Set(["/pods", "/serviceaccounts", "/namespaces"])

interface Route {
  rt: ResourceType
  namespace?: string | undefined
  name?: string | undefined
  subresource?: string | undefined
  watch: boolean
}

function route(ctx: ServerContext, group: string, version: string, segs: string[]): Route | undefined {
  let watch = false
  if (segs[0] === "watch") {
    watch = true
    segs = segs.slice(1)
  }
  let namespace: string | undefined
  if (segs[0] === "namespaces" && segs.length >= 3 && ctx.api.registry.get(group, version, segs[2]!)?.namespaced) {
    namespace = segs[1]
    segs = segs.slice(2)
  }
  const [plural, name, subresource, ...extra] = segs
  if (!plural || extra.length > 0) return undefined
  const rt = ctx.api.registry.get(group, version, plural)
  if (!rt) return undefined
  if (!rt.namespaced && namespace !== undefined) return undefined
  if (rt.namespaced && namespace === undefined && name !== undefined) return undefined
  if (
    subresource !== undefined && !(subresource === "status" && rt.status) && !(subresource === "scale" && rt.scale) &&
    !(subresource === "finalize" && rt.kind === "Namespace")
  ) {
    return undefined
  }
  return { rt, namespace, name, subresource, watch }
}

export function startServer(
  ctx: ServerContext,
  host: string,
  port: number,
  tls?: { key: string; cert: string },
): Promise<Server> {
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    handle(ctx, req, res).catch((e: unknown) => {
      const err = e instanceof ApiError
        ? e
        : new ApiError(500, "InternalError", `Internal error occurred: ${(e as Error)?.message ?? String(e)}`)
      if (!res.headersSent) send(res, err.code, err.toStatus())
      else res.end()
    })
  }
  const server: Server = tls ? (createTlsServer(tls, onRequest) as unknown as Server) : createServer(onRequest)
  server.keepAliveTimeout = 30_000
  return new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(port, host, () => resolve(server))
  })
}

async function handle(ctx: ServerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  ctx.onRequest(`${req.method} ${req.url}`)
  const latency = ctx.latencyMs()
  if (latency > 0) await Bun.sleep(latency)
  const url = new URL(req.url ?? "/", "http://emulator")
  const path = url.pathname.replace(/\/+$/, "") || "/"
  // As on a real cluster, version and health need no credentials.
  const open = path === "/version" || path === "/healthz" || path === "/livez" || path === "/readyz"
  if (ctx.token !== undefined && !open && req.headers.authorization !== `Bearer ${ctx.token}`) {
    throw new ApiError(401, "Unauthorized", "Unauthorized")
  }
  const accept = req.headers.accept
  const method = req.method ?? "GET"
  const segs = path.split("/").filter((s) => s !== "")
  if (method === "GET") {
    if (path === "/version") return send(res, 200, discovery.VERSION_INFO)
    if (path === "/healthz" || path === "/livez" || path === "/readyz") return send(res, 200, "ok", "text/plain")
    if (path === "/openapi/v2") {
      if ((accept ?? "").includes("protobuf")) {
        const body = openApiV2Protobuf()
        res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": body.length })
        return void res.end(body)
      }
      return send(res, 200, openApiV2Json())
    }
    if (path === "/api" || path === "/apis") {
      if (discovery.wantsAggregated(accept)) {
        return send(
          res,
          200,
          discovery.aggregated(ctx.api.registry, path === "/api"),
          discovery.AGGREGATED_CONTENT_TYPE,
        )
      }
      return send(
        res,
        200,
        path === "/api" ? discovery.apiVersions(ctx.address()) : discovery.groupList(ctx.api.registry),
      )
    }
    if (segs[0] === "apis" && segs.length === 2) {
      const g = discovery.group(ctx.api.registry, segs[1]!)
      return g ? send(res, 200, g) : send(res, 404, notFoundPath().toStatus())
    }
    if ((segs[0] === "api" && segs.length === 2) || (segs[0] === "apis" && segs.length === 3)) {
      const [group, version] = segs[0] === "api" ? ["", segs[1]!] : [segs[1]!, segs[2]!]
      const list = discovery.resourceList(ctx.api.registry, group, version)
      return list ? send(res, 200, list) : send(res, 404, notFoundPath().toStatus())
    }
  }
  let group: string
  let version: string
  let rest: string[]
  if (segs[0] === "api" && segs.length >= 3) [group, version, rest] = ["", segs[1]!, segs.slice(2)]
  else if (segs[0] === "apis" && segs.length >= 4) [group, version, rest] = [segs[1]!, segs[2]!, segs.slice(3)]
  else throw notFoundPath()
  const r = route(ctx, group, version, rest)
  if (!r) throw notFoundPath()
  const verb = verbOf(method, r, url.searchParams)
  if (r.subresource === undefined && verb && !r.rt.verbs.includes(verb)) {
    throw new ApiError(405, "MethodNotAllowed", `the server does not allow this method on the requested resource`, {
      kind: r.rt.plural,
      ...(r.name ? { name: r.name } : {}),
    })
  }
  return resource(ctx, r, url.searchParams, req, res, method, accept)
}

/** The API verb a request is, as discovery lists verbs. */
function verbOf(method: string, r: Route, q: URLSearchParams): string | undefined {
  const watching = r.watch || q.get("watch") === "true" || q.get("watch") === "1"
  if (method === "GET") return watching ? "watch" : r.name ? "get" : "list"
  if (method === "POST") return r.name ? undefined : "create"
  if (method === "PUT") return "update"
  if (method === "PATCH") return "patch"
  if (method === "DELETE") return r.name ? "delete" : "deletecollection"
  return undefined
}

function writeOptions(q: URLSearchParams, req: IncomingMessage, isApply: boolean): WriteOptions {
  const dryRun = q.getAll("dryRun")
  for (const d of dryRun) {
    if (d !== "All") throw badRequest(`Invalid dryRun value: ${d}; the only supported value is All`)
  }
  const force = q.get("force")
  if (force !== null && !isApply) {
    throw invalidObject("PatchOptions", "meta.k8s.io", "", [
      fieldError("FieldValueForbidden", "force", "Forbidden: may not be specified for non-apply patch"),
    ])
  }
  const manager = q.get("fieldManager")
  if (manager !== null && manager.length > 128) {
    throw invalidObject("PatchOptions", "meta.k8s.io", "", [
      fieldError("FieldValueTooLong", "fieldManager", "Too long: may not be longer than 128"),
    ])
  }
  const validation = q.get("fieldValidation")
  if (validation !== null && !["Ignore", "Warn", "Strict"].includes(validation)) {
    throw badRequest(
      `fieldValidation: Unsupported value: "${validation}": supported values: "Ignore", "Warn", "Strict"`,
    )
  }
  return {
    dryRun: dryRun.includes("All"),
    fieldManager: manager ?? (isApply ? undefined : defaultManager(req)),
    force: force === "true",
    // The real server's default is Warn.
    fieldValidation: (validation ?? "Warn") as "Ignore" | "Warn" | "Strict",
    warnings: [],
  }
}

async function resource(
  ctx: ServerContext,
  r: Route,
  q: URLSearchParams,
  req: IncomingMessage,
  res: ServerResponse,
  method: string,
  accept: string | undefined,
): Promise<void> {
  const { api } = ctx
  const { rt } = r
  const namespace = r.namespace ?? ""
  const tableVersion = wantsTable(accept)
  const include = (q.get("includeObject") ?? "Metadata") as IncludeObject
  const sub = r.subresource === "finalize" ? undefined : (r.subresource as Target["subresource"])
  if (r.name !== undefined) {
    const t: Target = { rt, namespace, name: r.name, subresource: sub }
    if (method === "GET" && (r.watch || q.get("watch") === "true" || q.get("watch") === "1")) {
      const fs = `metadata.name=${r.name}`
      return watch(ctx, r, q, res, tableVersion, include, fs)
    }
    if (method === "GET") {
      const o = api.get(t)
      if (tableVersion && !sub) {
        return send(
          res,
          200,
          toTable(rt, [o], { resourceVersion: o.metadata.resourceVersion }, {
            apiVersion: tableVersion,
            includeObject: include,
          }),
        )
      }
      return send(res, 200, o)
    }
    const body = await readBody(req)
    if (method === "PUT") {
      const opts = writeOptions(q, req, false)
      return sendWritten(res, 200, api.update(t, parseJson(body), opts), opts)
    }
    if (method === "PATCH") {
      const contentType = (req.headers["content-type"] ?? "").split(";")[0]!.trim()
      const type = PATCH_TYPES[contentType]
      const opts = writeOptions(q, req, type === "apply")
      return sendWritten(res, 200, api.patch(t, type, contentType, body, opts), opts)
    }
    if (method === "DELETE") {
      const dryRun = q.getAll("dryRun").includes("All")
      const options = parseJson(body)
      const out = api.delete(t, options, { propagationPolicy: q.get("propagationPolicy"), dryRun })
      const gone = dryRun ? pendingFinalizers(out).length === 0 : !api.find(rt, namespace, r.name)
      // As the real handler: 202 only when the object stays and the (deprecated)
      // orphanDependents=false was asked for; otherwise 200.
      const orphanFalse = (isObject(options) && options.orphanDependents === false) ||
        q.get("orphanDependents") === "false"
      const code = !gone && orphanFalse ? 202 : 200
      // An object still held by finalizers comes back; one that is gone is a Success Status,
      // except for the kinds whose storage returns the deleted object.
      if (!gone || RETURNS_DELETED_OBJECT.has(`${rt.group}/${rt.plural}`)) return send(res, code, out)
      return send(res, code, {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Success",
        details: { name: r.name, group: rt.group, kind: rt.plural, uid: out.metadata.uid },
      })
    }
    throw new ApiError(405, "MethodNotAllowed", `${method} is not supported on ${rt.plural}/${r.name}`)
  }
  if (r.subresource !== undefined) throw notFoundPath()
  if (method === "GET" && (r.watch || q.get("watch") === "true" || q.get("watch") === "1")) {
    return watch(ctx, r, q, res, tableVersion, include, undefined)
  }
  if (method === "GET") {
    const list = listObjects(api.store, rt, listQuery(rt, r, q))
    if (tableVersion) {
      return send(
        res,
        200,
        toTable(rt, list.items, list.metadata, { apiVersion: tableVersion, includeObject: include }),
      )
    }
    return send(res, 200, list)
  }
  if (method === "POST") {
    if (rt.namespaced && r.namespace === undefined) {
      throw new ApiError(405, "MethodNotAllowed", `the server does not allow this method on the requested resource`)
    }
    const body = await readBody(req)
    const opts = writeOptions(q, req, false)
    return sendWritten(res, 201, api.create({ rt, namespace }, parseJson(body), opts), opts)
  }
  if (method === "DELETE") {
    const body = parseJson(await readBody(req))
    const list = listObjects(api.store, rt, listQuery(rt, r, q))
    const deleted: Obj[] = []
    for (const o of list.items) {
      try {
        deleted.push(
          api.delete({ rt, namespace: o.metadata.namespace ?? "", name: o.metadata.name }, body, {
            propagationPolicy: q.get("propagationPolicy"),
            dryRun: q.getAll("dryRun").includes("All"),
          }),
        )
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 404)) throw e
      }
    }
    return send(res, 200, {
      kind: rt.listKind,
      apiVersion: list.apiVersion,
      metadata: { resourceVersion: String(api.store.currentRv) },
      items: deleted,
    })
  }
  throw new ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
}

function listQuery(rt: ResourceType, r: Route, q: URLSearchParams, extraFieldSelector?: string) {
  const ls = q.get("labelSelector")
  const fsRaw = [q.get("fieldSelector"), extraFieldSelector].filter((s) => s).join(",") || null
  const limitRaw = q.get("limit")
  const limit = limitRaw === null ? undefined : Number(limitRaw)
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw badRequest(`invalid limit: ${limitRaw}`)
  return {
    namespace: r.namespace,
    filter: objectFilter(parseLabelSelector(ls), parseFieldSelector(fsRaw, rt.kind)),
    selective: !!ls || !!fsRaw,
    limit,
    continueToken: q.get("continue") ?? undefined,
    resourceVersion: q.get("resourceVersion") ?? undefined,
    resourceVersionMatch: q.get("resourceVersionMatch") ?? undefined,
  }
}

function watch(
  ctx: ServerContext,
  r: Route,
  q: URLSearchParams,
  res: ServerResponse,
  tableVersion: string | undefined,
  include: IncludeObject,
  extraFieldSelector: string | undefined,
): void {
  const lq = listQuery(r.rt, r, q, extraFieldSelector)
  const timeout = q.get("timeoutSeconds")
  const timeoutSeconds = timeout === null ? undefined : Number(timeout)
  if (timeoutSeconds !== undefined && (!Number.isFinite(timeoutSeconds) || timeoutSeconds < 0)) {
    throw badRequest(`invalid timeoutSeconds: ${timeout}`)
  }
  serveWatch(ctx.api.store, ctx.hub, {
    rt: r.rt,
    namespace: r.namespace,
    filter: lq.filter,
    resourceVersion: lq.resourceVersion,
    allowBookmarks: q.get("allowWatchBookmarks") === "true",
    bookmarkIntervalMs: ctx.bookmarkIntervalMs,
    timeoutSeconds,
    render: tableVersion
      ? (o, first) =>
        toTable(r.rt, [o], { resourceVersion: o.metadata.resourceVersion }, {
          apiVersion: tableVersion,
          includeObject: include,
          noHeaders: !first,
        })
      : (o) => o,
  }, res)
}
