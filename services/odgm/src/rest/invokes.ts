import { Effect } from "effect"
import { isObjectId, ValidationError } from "@oprc/models"
import { json, type RestRequest, type RestResponse, route } from "@oprc/rpc"
import { Access } from "../access/Access.ts"
import { AsyncInvocations, type AsyncResult } from "../invocation/AsyncInvocations.ts"
import type { InvocationResult, InvocationStatus } from "../domain/types.ts"
import { Invoker } from "../invocation/Invoker.ts"
import { intParam, parsePartition } from "./common.ts"

/**
 * Invocation status -> HTTP status (docs/odgm.md "REST gateway"): OK 200, INVALID 400, APP_ERROR 422 (the function
 * refused: the request was well-formed but the application said no), SYSTEM_ERROR 502. Failures
 * ODGM itself reports travel as errors: unknown class/function 404, INTERNAL/PRIVATE 403, version
 * conflict after the bounded re-runs 409, function unreachable 503, deadline 504.
 */
const httpStatus: Record<InvocationStatus, number> = { OK: 200, INVALID: 400, APP_ERROR: 422, SYSTEM_ERROR: 502 }
const errorCode: Record<InvocationStatus, string> = {
  OK: "ok",
  INVALID: "invalid_argument",
  APP_ERROR: "app_error",
  SYSTEM_ERROR: "system_error",
}

/** The request headers a function sees: content-type, accept and `x-*`, never a credential. */
const forwarded = (req: RestRequest): Record<string, string> => {
  const out: Record<string, string> = {}
  const keep = (value: string, name: string) => {
    if (name === "x-oprc-internal-token" || name === "authorization") return
    if (name === "content-type" || name === "accept" || name.startsWith("x-")) out[name] = value
  }
  // From the transport's plain record when it has one (no fetch `Headers` built per call).
  if (req.fields === undefined) req.headers.forEach(keep)
  else for (const name in req.fields) keep(req.fields[name]!, name)
  const body = req.body
  if (out["content-type"] === undefined && body.length > 0) out["content-type"] = "application/json"
  return out
}

const header = (req: RestRequest, lowerName: string): string | undefined => req.header(lowerName) ?? undefined

const parseOutput = (output: Uint8Array): unknown => {
  if (output.length === 0) return undefined
  const text = new TextDecoder().decode(output)
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

const resultResponse = (r: InvocationResult): RestResponse => {
  const headers: Record<string, string> = { "x-oprc-invocation-id": r.invocationId }
  if (r.objectVersion !== undefined) headers["x-oprc-object-version"] = r.objectVersion.toString()
  if (r.status !== "OK") {
    const details = parseOutput(r.output)
    return {
      status: httpStatus[r.status],
      headers,
      body: {
        error: {
          code: errorCode[r.status],
          message: r.error || r.status,
          ...(details === undefined ? {} : { details }),
        },
      },
    }
  }
  if (r.output.length === 0) return { status: 200, headers }
  return { status: 200, headers, raw: { data: r.output, contentType: r.headers["content-type"] ?? "application/json" } }
}

const asyncResultJson = (r: AsyncResult) => ({
  invocationId: r.invocationId,
  state: r.state,
  expiresAt: new Date(r.expiresAt).toISOString(),
  ...(r.result === undefined
    ? {}
    : {
      status: r.result.status,
      code: r.result.code,
      ...(r.result.output.length > 0 ? { output: parseOutput(r.result.output) } : {}),
      ...(r.result.error ? { error: r.result.error } : {}),
      ...(r.result.objectVersion === undefined ? {} : { objectVersion: r.result.objectVersion.toString() }),
    }),
})

const invoke = (req: RestRequest, objectId: string | undefined) =>
  Effect.gen(function*() {
    const caller = (yield* Access).callerOf(req)
    const timeoutMs = yield* intParam(req, "timeoutMs", 0, 3_600_000)
    const request = {
      cls: req.params.cls!,
      partition: yield* parsePartition(req.params.partition),
      objectId,
      fn: req.params.fn!,
      payload: req.body,
      headers: forwarded(req),
      timeoutMs: timeoutMs === 0 ? undefined : timeoutMs,
      invocationId: header(req, "x-oprc-invocation-id") ?? header(req, "idempotency-key") ?? undefined,
    }
    if (request.invocationId !== undefined && !isObjectId(request.invocationId)) {
      const named = header(req, "x-oprc-invocation-id") !== undefined ? "x-oprc-invocation-id" : "idempotency-key"
      return yield* ValidationError.single(
        named,
        "use 1 to 160 characters of lowercase letters, digits, '.', '_', ':' and '-'",
      )
    }
    if (req.query.get("async") === "true" || req.query.get("async") === "1") {
      const id = yield* (yield* AsyncInvocations).submit(request, caller)
      return { status: 202, body: { invocationId: id }, headers: { location: `/api/invocations/${id}` } }
    }
    // A client-chosen id is an idempotency key: a retry answers the first outcome, applied once.
    return resultResponse(yield* (yield* Invoker).invoke(request, caller))
  })

/** POST .../objects/{id}/invokes/{fn} (on an object), POST .../invokes/{fn} (stateless); `?async=true` answers 202. */
export const invokeRoutes = [
  route("POST", "/api/class/:cls/:partition/objects/:id/invokes/:fn", (req) => invoke(req, req.params.id)),
  route("POST", "/api/class/:cls/:partition/invokes/:fn", (req) => invoke(req, undefined)),
  route("GET", "/api/invocations/:id", (req) =>
    Effect.gen(function*() {
      const waitMs = yield* intParam(req, "waitMs", 0, 60_000)
      if (!isObjectId(req.params.id!)) return yield* ValidationError.single("invocationId", "is not an invocation id")
      const r = yield* (yield* AsyncInvocations).get(req.params.id!, waitMs)
      return json(r.state === "DONE" ? 200 : 202, asyncResultJson(r))
    })),
]
