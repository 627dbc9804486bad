// Failures as the API server reports them: a `Status` object with reason, code and details.
import type { Obj } from "./types.ts"

export interface StatusCause {
  reason?: string
  message: string
  field?: string
  type?: string
}

export interface StatusDetails {
  name?: string
  group?: string
  kind?: string
  uid?: string
  causes?: StatusCause[]
  retryAfterSeconds?: number
}

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message)
  }

  toStatus(): Obj {
    return {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: this.message,
      ...(this.reason ? { reason: this.reason } : {}),
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    }
  }
}

/** `deployments.apps "web"`: how the server names an object in messages. */
export const describe = (resource: string, name: string) => `${resource} "${name}"`

export const notFound = (resource: string, group: string, name: string) =>
  new ApiError(404, "NotFound", `${describe(resource + (group ? `.${group}` : ""), name)} not found`, {
    name,
    group,
    kind: resource,
  })

export const alreadyExists = (resource: string, group: string, name: string) =>
  new ApiError(409, "AlreadyExists", `${describe(resource + (group ? `.${group}` : ""), name)} already exists`, {
    name,
    group,
    kind: resource,
  })

export const conflict = (resource: string, group: string, name: string, why: string) =>
  new ApiError(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${describe(resource + (group ? `.${group}` : ""), name)}: ${why}`,
    { name, group, kind: resource },
  )

export const MODIFIED_MESSAGE =
  "the object has been modified; please apply your changes to the latest version and try again"

export const badRequest = (message: string) => new ApiError(400, "BadRequest", message)

export const methodNotAllowed = (message: string) => new ApiError(405, "MethodNotAllowed", message)

export const unsupportedMediaType = (contentType: string) =>
  new ApiError(
    415,
    "UnsupportedMediaType",
    `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got ${contentType})`,
  )

export const expired = (message: string) => new ApiError(410, "Expired", message)

export const gone = (message: string) => new ApiError(410, "Gone", message)

export const forbidden = (message: string, details?: StatusDetails) => new ApiError(403, "Forbidden", message, details)

export interface FieldError {
  /** `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported`, `FieldValueForbidden`, ... */
  type: string
  field: string
  /** The text after the field path, e.g. `Required value` or `Invalid value: "x": must be ...`. */
  detail: string
}

export const fieldError = (type: string, field: string, detail: string): FieldError => ({ type, field, detail })
export const required = (field: string) => fieldError("FieldValueRequired", field, "Required value")
export const invalid = (field: string, value: unknown, why: string) =>
  fieldError("FieldValueInvalid", field, `Invalid value: ${showValue(value)}: ${why}`)
export const immutable = (field: string, value: unknown) => invalid(field, value, "field is immutable")

export function showValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v)
  if (v === null || v === undefined) return "null"
  if (typeof v === "object") return Array.isArray(v) ? `[]interface {}{...}` : `map[string]interface {}{...}`
  return String(v)
}

/** 422 Invalid with one cause per field, in the server's message format. */
export function invalidObject(kind: string, group: string, name: string, errors: FieldError[]): ApiError {
  const parts = errors.map((e) => `${e.field}: ${e.detail}`)
  const qualified = group ? `${kind}.${group}` : kind
  const list = parts.length === 1 ? parts[0] : `[${parts.join(", ")}]`
  return new ApiError(422, "Invalid", `${qualified} ${JSON.stringify(name)} is invalid: ${list}`, {
    name,
    group,
    kind,
    causes: errors.map((e) => ({ reason: e.type, message: e.detail, field: e.field })),
  })
}
