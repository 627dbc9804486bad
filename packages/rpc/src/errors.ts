import { create } from "@bufbuild/protobuf"
import { Code, ConnectError } from "@connectrpc/connect"
import { Cause, Effect, Option, Schema } from "effect"
import { type DomainError, StorageError } from "@oprc/models"
import { commonv1 } from "@oprc/proto"
import type { CircuitOpen } from "./client/CircuitBreaker"
import type { RpcClientError } from "./client/client"

/**
 * The one edge mapper: domain error tags -> Connect codes and HTTP statuses. Handlers only fail
 * with tagged domain errors (see @oprc/models errors.ts); unknown failures and defects become
 * Internal, are logged with their cause under a reference id, and never leak a stack trace.
 */

/** 415: a REST body in a type no route reads (the message names the accepted ones). */
export class UnsupportedMediaType extends Schema.TaggedError<UnsupportedMediaType>()("UnsupportedMediaType", {
  contentType: Schema.String,
  accepted: Schema.String,
}) {
  override get message(): string {
    return `unsupported content-type "${this.contentType}"; send ${this.accepted}`
  }
}

/**
 * Every failure a handler may put in its error channel (RPC methods, REST routes, the
 * authorizer): the platform's domain errors, a downstream call's failure, and a ConnectError
 * passed through. The mapper below knows each; anything else in a handler's error channel is a
 * compile error rather than a 500 at run time (defects still become Internal).
 */
export type EdgeError = DomainError | UnsupportedMediaType | RpcClientError | CircuitOpen | ConnectError

interface Mapping {
  readonly code: Code
  readonly status: number
}

const byTag: Record<string, Mapping> = {
  ValidationError: { code: Code.InvalidArgument, status: 400 },
  NotFound: { code: Code.NotFound, status: 404 },
  AlreadyExists: { code: Code.AlreadyExists, status: 409 },
  VersionConflict: { code: Code.Aborted, status: 409 },
  FailedPrecondition: { code: Code.FailedPrecondition, status: 409 },
  Unauthenticated: { code: Code.Unauthenticated, status: 401 },
  PermissionDenied: { code: Code.PermissionDenied, status: 403 },
  Unavailable: { code: Code.Unavailable, status: 503 },
  DeadlineExceeded: { code: Code.DeadlineExceeded, status: 504 },
  PayloadTooLarge: { code: Code.ResourceExhausted, status: 413 },
  UnsupportedMediaType: { code: Code.InvalidArgument, status: 415 },
}

/** HTTP status for a Connect code, for errors that arrive already as ConnectError. */
const statusOfCode: Partial<Record<Code, number>> = {
  [Code.Canceled]: 499,
  [Code.InvalidArgument]: 400,
  [Code.DeadlineExceeded]: 504,
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.PermissionDenied]: 403,
  [Code.ResourceExhausted]: 413,
  [Code.FailedPrecondition]: 409,
  [Code.Aborted]: 409,
  [Code.OutOfRange]: 400,
  [Code.Unimplemented]: 501,
  [Code.Unavailable]: 503,
  [Code.Unauthenticated]: 401,
}

/** Connect's wire name of a code ("not_found"), used in JSON error bodies and metric labels. */
export const codeName = (code: Code | "ok"): string =>
  code === "ok" ? "ok" : Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase()

const codeByName = new Map<string, Code>(
  Object.values(Code)
    .filter((v): v is Code => typeof v === "number")
    .map((c) => [codeName(c), c]),
)

/** The Code for a wire name such as "not_found". */
export const codeFromName = (name: string): Code | undefined => codeByName.get(name)

export interface MappedError {
  readonly code: Code
  readonly status: number
  readonly message: string
  readonly violations: ReadonlyArray<{ readonly path: string; readonly message: string }>
  /** Set when the failure was unexpected: the cause must be logged, the client sees only the id. */
  readonly internalRef?: string
}

const tagOf = (e: unknown): string | undefined =>
  typeof e === "object" && e !== null && "_tag" in e && typeof e._tag === "string" ? e._tag : undefined

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e))

const internal = (): MappedError => {
  const ref = crypto.randomUUID().slice(0, 8)
  return { code: Code.Internal, status: 500, message: `internal error (ref ${ref})`, violations: [], internalRef: ref }
}

/** Maps one failure value (the E of an Effect) to its code, status and safe message. */
export const mapFailure = (e: unknown): MappedError => {
  if (e instanceof ConnectError) {
    return { code: e.code, status: statusOfCode[e.code] ?? 500, message: e.rawMessage, violations: [] }
  }
  const tag = tagOf(e)
  if (tag === "RpcClientError" && typeof e === "object" && e !== null && "code" in e && typeof e.code === "string") {
    // A downstream call failed: surface its code (a CRM's unavailable stays unavailable).
    const code = e.code === "circuit_open" ? Code.Unavailable : (codeByName.get(e.code) ?? Code.Unavailable)
    return { code, status: statusOfCode[code] ?? 502, message: messageOf(e), violations: [] }
  }
  if (tag === "CircuitOpen") return { code: Code.Unavailable, status: 503, message: messageOf(e), violations: [] }
  // The one StorageError (cp-storage and the ODGM's engines) says whether retrying may help: a retryable one is
  // the backend being unreachable right now (503); any other is a bug or corruption (Internal).
  if (e instanceof StorageError && e.retryable) {
    return {
      code: Code.Unavailable,
      status: 503,
      message: "storage is unavailable right now; retry later",
      violations: [],
    }
  }
  const mapping = tag !== undefined ? byTag[tag] : undefined
  if (mapping === undefined) return internal()
  if (
    tag === "ValidationError" && typeof e === "object" && e !== null && "violations" in e && Array.isArray(e.violations)
  ) {
    return boundedViolations(mapping, e.violations as ReadonlyArray<{ path: string; message: string }>)
  }
  return { code: mapping.code, status: mapping.status, message: cut(messageOf(e), MAX_TEXT * 4), violations: [] }
}

/** Violations listed in an error (the rest are counted), and the longest path or message shown. */
export const MAX_VIOLATIONS = 100
const MAX_TEXT = 512

const cut = (
  s: string,
  max = MAX_TEXT,
) => (s.length > max ? `${s.slice(0, max)}... (${s.length - max} more characters)` : s)

/**
 * Error bodies stay small whatever the input: at most 100 violations of at most 512 characters
 * each (about 100 KiB in the worst case, ~10 KiB typically), plus how many were left out.
 * The message repeats only the first violation, not the whole list.
 */
const boundedViolations = (mapping: Mapping, all: ReadonlyArray<{ path: string; message: string }>): MappedError => {
  const shown = all.slice(0, MAX_VIOLATIONS).map((v) => ({ path: cut(v.path, 256), message: cut(v.message) }))
  const rest = all.length - shown.length
  const violations = rest > 0 ? [...shown, { path: "", message: `${rest} more violations not shown` }] : shown
  const first = shown[0]
  const message = first === undefined
    ? "invalid request"
    : `${first.path ? `${first.path}: ` : ""}${first.message}${all.length > 1 ? ` (and ${all.length - 1} more)` : ""}`
  return { code: mapping.code, status: mapping.status, message, violations }
}

/** Maps a whole Cause: typed failures by tag, interruption as Canceled, defects as Internal. */
export const mapCause = (cause: Cause.Cause<unknown>): MappedError => {
  const failure = Cause.findErrorOption(cause)
  if (Option.isSome(failure)) return mapFailure(failure.value)
  if (Cause.hasInterruptsOnly(cause)) {
    return { code: Code.Canceled, status: 499, message: "request cancelled", violations: [] }
  }
  return internal()
}

/** Logs an Internal failure with its full cause, once, at the edge. */
export const logIfInternal = (mapped: MappedError, cause: Cause.Cause<unknown>, where: string): Effect.Effect<void> =>
  mapped.internalRef === undefined
    ? Effect.void
    : Effect.logError(`internal error in ${where}`, cause).pipe(Effect.annotateLogs({ ref: mapped.internalRef }))

export const toConnectError = (mapped: MappedError): ConnectError => {
  const details = mapped.violations.length > 0
    ? [{
      desc: commonv1.FieldViolationsSchema,
      value: create(commonv1.FieldViolationsSchema, { violations: [...mapped.violations] }),
    }]
    : []
  return new ConnectError(mapped.message, mapped.code, undefined, details)
}

/** JSON body of a REST error: `{"error": {"code", "message", "violations"?}}`. */
export const toJsonBody = (mapped: MappedError) => ({
  error: {
    code: codeName(mapped.code),
    message: mapped.message,
    ...(mapped.violations.length > 0 ? { violations: mapped.violations } : {}),
  },
})
