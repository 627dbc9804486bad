import { createHash, createHmac, timingSafeEqual } from "node:crypto"
import { Effect, Redacted } from "effect"
import type { AuthToken, Role } from "@oprc/config"
import { PermissionDenied, Unauthenticated } from "@oprc/models"
import type { AuthorizedCall, Authorizer } from "./server/CallRunner"

/**
 * The one authorizer of every oprc server (PM, ODGM, CRM). Three kinds of credential:
 * - bearer tokens with a role (reader < deployer < admin), from `auth.tokens`;
 * - the platform's internal credential (`x-oprc-internal-token`), held by functions: it opens the
 *   data plane (objects, invocations) and nothing administrative;
 * - a per-class credential (`oprc-caller-token: <class>:<mac>`, mac = HMAC-SHA256 of
 *   "class:<class>" under the internal secret), handed to a class's function processes by the
 *   CRM (`OPRC_CALLER_TOKEN`). It carries the internal rights plus the caller's class, which is
 *   read from the verified credential, never from a header the caller could simply set.
 * Health checks (`grpc.health.v1.Health/*`) are public everywhere; /healthz, /readyz and
 * /metrics never reach the authorizer. Secrets are compared in constant time.
 */

/** What a procedure needs: nobody, a role, or the data plane (role `deployer` or the internal credential). */
export type Need = "public" | Role | { readonly dataPlane: Role }

/** Per-service rules: the need of a procedure ("/pkg.Service/Method" or "METHOD /route/:pattern"). */
export type AuthRules = (procedure: string) => Need

export interface Caller {
  /** Holds the internal or a class credential (a function of the platform). */
  readonly internal: boolean
  /** The class of a caller that presented a valid class credential. */
  readonly callerClass: string | undefined
}

export interface AuthorizerOptions {
  readonly tokens: ReadonlyArray<AuthToken>
  readonly internalSecret?: Redacted.Redacted<string> | undefined
  readonly rules: AuthRules
}

export const INTERNAL_TOKEN_HEADER = "x-oprc-internal-token"
/** Not an `x-` header: ODGM forwards `x-*` request headers to the function it invokes, and a class credential must never travel on. */
export const CALLER_TOKEN_HEADER = "oprc-caller-token"

const rank: Record<Role, number> = { reader: 0, deployer: 1, admin: 2 }

const digest = (secret: string) => createHash("sha256").update(secret).digest()

/** Equal secrets, in time independent of where they differ (both are hashed to one length first). */
export const sameSecret = (a: string, b: string): boolean => timingSafeEqual(digest(a), digest(b))

const mac = (secret: string, cls: string) => createHmac("sha256", secret).update(`class:${cls}`).digest("base64url")

/** The credential of class `cls`'s functions, derived from the internal secret (the CRM hands it out). */
export const classCredential = (internalSecret: Redacted.Redacted<string> | string, cls: string): string =>
  `${cls}:${mac(typeof internalSecret === "string" ? internalSecret : Redacted.value(internalSecret), cls)}`

const health = (procedure: string) => procedure.startsWith("/grpc.health.v1.Health/")

/** "reader for reads, deployer otherwise" by method name (Get/List/Watch) or HTTP verb (GET/HEAD). */
export const isRead = (procedure: string): boolean =>
  procedure.startsWith("/") ? /^\/[^/]+\/(Get|List|Watch)/.test(procedure) : /^(GET|HEAD) /.test(procedure)

/** "DeploymentService.DeleteDeployment" for RPCs, the route for REST. */
const describe = (procedure: string) =>
  procedure.startsWith("/") ? procedure.slice(1).replace(/^([a-z0-9_]+\.)+/, "").replace("/", ".") : procedure

/** A request's headers: a fetch `Headers`, and the transport's plain record by lower-case name when it has one. */
export type CallHeaders = Pick<AuthorizedCall, "headers" | "fields">

/**
 * One header by lower-case name (null when absent), from the plain record when the transport has
 * one: building a fetch `Headers` for the two or three names read here cost more than the whole
 * check (~1 µs per call).
 */
const headerReader = (call: CallHeaders): (lowerName: string) => string | null => {
  const fields = call.fields
  return fields === undefined ? (name) => call.headers.get(name) : (name) => fields[name] ?? null
}

export const makeAuthorizer = (
  options: AuthorizerOptions,
): { readonly authorize: Authorizer; readonly identify: (call: CallHeaders) => Caller } => {
  const byDigest = new Map(
    options.tokens.map((t) => [digest(Redacted.value(t.token)).toString("hex"), { name: t.name, role: t.role }]),
  )
  const secret = options.internalSecret === undefined ? undefined : Redacted.value(options.internalSecret)
  const enabled = options.tokens.length > 0

  const identify = (call: CallHeaders): Caller => {
    if (secret === undefined) return { internal: false, callerClass: undefined }
    const header = headerReader(call)
    const classToken = header(CALLER_TOKEN_HEADER)
    if (classToken !== null) {
      const cut = classToken.lastIndexOf(":")
      const cls = cut > 0 ? classToken.slice(0, cut) : ""
      if (cls !== "" && sameSecret(classToken.slice(cut + 1), mac(secret, cls))) {
        return { internal: true, callerClass: cls }
      }
    }
    const internal = header(INTERNAL_TOKEN_HEADER)
    return { internal: internal !== null && sameSecret(internal, secret), callerClass: undefined }
  }
  const authorize: Authorizer = (call) =>
    Effect.suspend((): Effect.Effect<void, Unauthenticated | PermissionDenied> => {
      const procedure = call.procedure
      if (health(procedure)) return Effect.void
      const need = options.rules(procedure)
      if (need === "public") return Effect.void
      const caller = identify(call)
      if (caller.internal && typeof need === "object") {
        return Effect.annotateCurrentSpan({ "oprc.principal": caller.callerClass ?? "internal" })
      }
      // Without bearer tokens (the embedded default) the server is open.
      if (!enabled) return Effect.void
      const authorization = headerReader(call)("authorization")
      if (authorization === null || authorization.trim() === "") {
        if (caller.internal) {
          return Effect.fail(
            new PermissionDenied({
              reason: `the internal credential opens the data plane only, not ${describe(procedure)}`,
            }),
          )
        }
        return Effect.fail(
          new Unauthenticated({
            reason: `${describe(procedure)} needs a bearer token: send "Authorization: Bearer <token>"`,
          }),
        )
      }
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization.trim())
      if (match === null) {
        return Effect.fail(new Unauthenticated({ reason: `the Authorization header must be "Bearer <token>"` }))
      }
      const holder = byDigest.get(digest(match[1]!).toString("hex"))
      if (holder === undefined) return Effect.fail(new Unauthenticated({ reason: "invalid bearer token" }))
      const role = typeof need === "object" ? need.dataPlane : need
      if (rank[holder.role] < rank[role]) {
        return Effect.fail(
          new PermissionDenied({
            reason: `token "${holder.name}" has role ${holder.role}, but ${describe(procedure)} needs ${role}`,
          }),
        )
      }
      return Effect.annotateCurrentSpan({ "oprc.principal": holder.name, "oprc.role": holder.role })
    })

  return { authorize, identify }
}
