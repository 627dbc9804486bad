import { type AuthConfig, authEnabled } from "@oprc/config"
import { type Authorizer, isRead, makeAuthorizer as makeRpcAuthorizer, type Need } from "@oprc/rpc"

/**
 * The PM's role rules: reads (Get/List/Watch, REST GET) need reader, deployment changes need
 * deployer, everything else (packages, clusters) admin. The OpenAPI document is public, health
 * is public on every server. The PM has no data plane, so the internal credential opens nothing.
 * `procedure` is "/pkg.Service/Method" for RPC and "METHOD /route/:pattern" for REST.
 */
const requiredRole = (procedure: string): Need => {
  if (procedure === "GET /openapi.json") return "public"
  if (isRead(procedure)) return "reader"
  if (procedure.startsWith("/")) return procedure.startsWith("/oprc.pm.v1.DeploymentService/") ? "deployer" : "admin"
  return procedure.split(" ")[1]?.startsWith("/api/v1/deployments") ? "deployer" : "admin"
}

/**
 * Bearer-token auth with roles, or undefined (no auth) when no token is configured: the
 * embedded default is open, and configuring one token turns auth on for every call.
 */
export const makeAuthorizer = (auth: AuthConfig): Authorizer | undefined =>
  authEnabled(auth) ? makeRpcAuthorizer({ tokens: auth.tokens, rules: requiredRole }).authorize : undefined
