import { createHash } from "node:crypto"
import { Effect, Redacted } from "effect"
import { type AuthConfig, authEnabled, type Role } from "@oprc/config"
import { PermissionDenied, Unauthenticated } from "@oprc/models"
import type { Authorizer } from "@oprc/rpc"

const rank: Record<Role, number> = { reader: 0, deployer: 1, admin: 2 }

/**
 * The least role a call needs: reads (Get/List/Watch, REST GET) need reader, deployment changes
 * need deployer, everything else admin. Health checks and the OpenAPI document are public.
 * `procedure` is "/pkg.Service/Method" for RPC and "METHOD /route/:pattern" for REST.
 */
export const requiredRole = (procedure: string): Role | "public" => {
  if (procedure.startsWith("/grpc.health.v1.Health/") || procedure === "GET /openapi.json") return "public"
  if (procedure.startsWith("/")) {
    const [service = "", method = ""] = procedure.slice(1).split("/")
    if (/^(Get|List|Watch)/.test(method)) return "reader"
    return service === "oprc.pm.v1.DeploymentService" ? "deployer" : "admin"
  }
  const [verb = "", path = ""] = procedure.split(" ")
  if (verb === "GET" || verb === "HEAD") return "reader"
  return path.startsWith("/api/v1/deployments") ? "deployer" : "admin"
}

const describe = (procedure: string) =>
  procedure.startsWith("/") ? procedure.slice(1).replace(/^oprc\.pm\.v1\./, "").replace("/", ".") : procedure

const digest = (token: string) => createHash("sha256").update(token).digest("hex")

/**
 * Bearer-token auth with roles, or undefined (no auth) when no token is configured: the
 * embedded default is open, and configuring one token turns auth on for every call.
 * Tokens are compared by their SHA-256, so a lookup never compares secrets byte by byte.
 */
export const makeAuthorizer = (auth: AuthConfig): Authorizer | undefined => {
  if (!authEnabled(auth)) return undefined
  const byDigest = new Map(auth.tokens.map((t) => [digest(Redacted.value(t.token)), { name: t.name, role: t.role }]))
  return ({ procedure, headers }) =>
    Effect.suspend((): Effect.Effect<void, Unauthenticated | PermissionDenied> => {
      const need = requiredRole(procedure)
      if (need === "public") return Effect.void
      const header = headers.get("authorization")
      if (header === null || header.trim() === "") {
        return Effect.fail(new Unauthenticated({ reason: `${describe(procedure)} needs a bearer token: send "Authorization: Bearer <token>"` }))
      }
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header.trim())
      if (match === null) return Effect.fail(new Unauthenticated({ reason: `the Authorization header must be "Bearer <token>"` }))
      const holder = byDigest.get(digest(match[1]!))
      if (holder === undefined) return Effect.fail(new Unauthenticated({ reason: "invalid bearer token" }))
      if (rank[holder.role] < rank[need]) {
        return Effect.fail(new PermissionDenied({
          reason: `token "${holder.name}" has role ${holder.role}, but ${describe(procedure)} needs ${need}`,
        }))
      }
      return Effect.annotateCurrentSpan({ "oprc.principal": holder.name, "oprc.role": holder.role })
    })
}
