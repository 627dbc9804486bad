import { type AuthConfig, authEnabled } from "@oprc/config"
import { type Authorizer, isRead, makeAuthorizer, type Need } from "@oprc/rpc"

/**
 * The CRM's role rules for the shared authorizer of @oprc/rpc: reads (Get/List/Watch, TailLogs,
 * REST GET such as the Prometheus SD endpoint) need reader; Apply/Delete deployer (the PM's
 * `clusters[].token`); anything else admin. The CRM has no data plane: the internal credential
 * opens nothing here. Health is public on every server.
 */
const requiredRole = (procedure: string): Need => {
  if (isRead(procedure) || procedure.startsWith("/oprc.crm.v1.RuntimeService/TailLogs")) return "reader"
  return /^\/oprc\.crm\.v1\.RuntimeService\/(Apply|Delete)DeploymentUnit$/.test(procedure) ? "deployer" : "admin"
}

/** Bearer-token auth with roles, or undefined (open) when no token is configured. */
export const makeCrmAuthorizer = (auth: AuthConfig): Authorizer | undefined =>
  authEnabled(auth) ? makeAuthorizer({ tokens: auth.tokens, rules: requiredRole }).authorize : undefined
