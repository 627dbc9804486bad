import { timingSafeEqual } from "node:crypto"
import { Context, Effect, Layer, Redacted } from "effect"
import { type AuthConfig, authEnabled } from "@oprc/config"
import { PermissionDenied, Unauthenticated } from "@oprc/models"
import type { Authorizer } from "@oprc/rpc"
import type { Caller } from "./domain/types.ts"

const sameSecret = (a: string, b: string): boolean => {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** Procedures a `reader` token may call: REST GETs and the read-only RPCs. */
const isRead = (procedure: string): boolean => procedure.startsWith("GET ") || /\/(Get|List)[A-Za-z]*$/.test(procedure)

/** Collection management: CRM (deployer) and admins only. */
const isAdmin = (procedure: string): boolean => procedure.includes("CollectionService/") || /^(PUT|DELETE) \/api\/collections/.test(procedure)

/**
 * Who is calling. Functions present the platform's internal credential in `x-oprc-internal-token`
 * (and their class in `x-oprc-caller-class`) to reach INTERNAL and PRIVATE functions; with bearer
 * tokens configured, every other caller needs one (reader: reads only; deployer, admin: all).
 */
export class Access extends Context.Service<Access, {
  readonly callerOf: (headers: Headers) => Caller
  readonly authorize: Authorizer
}>()("oprc/odgm/Access") {
  static readonly layer = (auth: AuthConfig, internalToken: Redacted.Redacted<string> | undefined) =>
    Layer.succeed(Access)(makeAccess(auth, internalToken))
}

export const makeAccess = (auth: AuthConfig, internalToken: Redacted.Redacted<string> | undefined): Access["Service"] => ({
      callerOf: (headers) => {
        const presented = headers.get("x-oprc-internal-token")
        const internal = internalToken !== undefined && presented !== null && sameSecret(presented, Redacted.value(internalToken))
        return { internal, callerClass: internal ? (headers.get("x-oprc-caller-class") ?? undefined) : undefined }
      },
      authorize: ({ procedure, headers }) => {
        if (!authEnabled(auth)) return Effect.void
        const presented = headers.get("x-oprc-internal-token")
        if (internalToken !== undefined && presented !== null && sameSecret(presented, Redacted.value(internalToken))) return Effect.void
        const bearer = /^Bearer\s+(.+)$/i.exec(headers.get("authorization") ?? "")?.[1]?.trim()
        if (bearer === undefined) return Effect.fail(new Unauthenticated({ reason: "missing bearer token (Authorization: Bearer <token>)" }))
        const token = auth.tokens.find((t) => sameSecret(Redacted.value(t.token), bearer))
        if (token === undefined) return Effect.fail(new Unauthenticated({ reason: "unknown bearer token" }))
        if (token.role === "reader" && !isRead(procedure)) return Effect.fail(new PermissionDenied({ reason: `role reader may not call ${procedure}` }))
        if (token.role !== "admin" && token.role !== "deployer" && isAdmin(procedure)) {
          return Effect.fail(new PermissionDenied({ reason: `role ${token.role} may not call ${procedure}` }))
        }
        return Effect.void
      },
    })
