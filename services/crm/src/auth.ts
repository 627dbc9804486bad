import { createHash } from "node:crypto"
import { Effect, Redacted } from "effect"
import { type AuthConfig, authEnabled, type Role } from "@oprc/config"
import { PermissionDenied, Unauthenticated } from "@oprc/models"
import type { Authorizer } from "@oprc/rpc"

const rank: Record<Role, number> = { reader: 0, deployer: 1, admin: 2 }

/**
 * The least role a CRM call needs: reads (Get/List/Watch/Tail, REST GET) reader, Apply/Delete
 * deployer (the PM's cluster token), anything else admin; health checks are public.
 * (Same token model as the PM's authorizer, until the shared one lands in @oprc/rpc.)
 */
export const requiredRole = (procedure: string): Role | "public" => {
  if (procedure.startsWith("/grpc.health.v1.Health/")) return "public"
  if (procedure.startsWith("/")) {
    const method = procedure.slice(1).split("/")[1] ?? ""
    if (/^(Get|List|Watch|Tail)/.test(method)) return "reader"
    return /^(Apply|Delete)DeploymentUnit$/.test(method) ? "deployer" : "admin"
  }
  const verb = procedure.split(" ")[0] ?? ""
  return verb === "GET" || verb === "HEAD" ? "reader" : "admin"
}

const digest = (token: string) => createHash("sha256").update(token).digest("hex")

/** Bearer-token auth with roles, or undefined (open) when no token is configured. */
export const makeCrmAuthorizer = (auth: AuthConfig): Authorizer | undefined => {
  if (!authEnabled(auth)) return undefined
  const byDigest = new Map(auth.tokens.map((t) => [digest(Redacted.value(t.token)), { name: t.name, role: t.role }]))
  return ({ procedure, headers }) =>
    Effect.suspend((): Effect.Effect<void, Unauthenticated | PermissionDenied> => {
      const need = requiredRole(procedure)
      if (need === "public") return Effect.void
      const match = /^Bearer\s+(\S+)\s*$/i.exec((headers.get("authorization") ?? "").trim())
      if (match === null) return Effect.fail(new Unauthenticated({ reason: `${procedure} needs "Authorization: Bearer <token>"` }))
      const holder = byDigest.get(digest(match[1]!))
      if (holder === undefined) return Effect.fail(new Unauthenticated({ reason: "invalid bearer token" }))
      if (rank[holder.role] < rank[need]) {
        return Effect.fail(new PermissionDenied({ reason: `token "${holder.name}" has role ${holder.role}, but ${procedure} needs ${need}` }))
      }
      return Effect.void
    })
}
