import { Context, Layer, type Redacted } from "effect"
import type { AuthConfig } from "@oprc/config"
import { type Authorizer, type CallHeaders, isRead, makeAuthorizer, type Need } from "@oprc/rpc"
import type { Caller } from "../domain/types.ts"

/**
 * ODGM's role rules. The data plane (objects, invocations, async results) is open to the
 * internal and class credentials of functions and to bearer tokens (reader reads, deployer
 * writes); collection management and dead letters are administrative: deployer (the CRM) or
 * admin tokens only, never the internal credential (it would let a function re-point any
 * function URL).
 */
const odgmRules = (procedure: string): Need => {
  const admin = procedure.includes("CollectionService/") || procedure.includes("EventService/") ||
    / \/api\/(collections|dead-letters)/.test(procedure)
  const role = isRead(procedure) ? "reader" : "deployer"
  return admin ? role : { dataPlane: role }
}

/**
 * Who is calling (internal, and the class when a class credential was verified) and whether a
 * call may proceed; see @oprc/rpc auth.ts for the credential model.
 */
export class Access extends Context.Service<Access, {
  readonly callerOf: (call: CallHeaders) => Caller
  readonly authorize: Authorizer
}>()("oprc/odgm/Access") {
  static readonly layer = (auth: AuthConfig, internalToken: Redacted.Redacted<string> | undefined) =>
    Layer.succeed(Access)(makeAccess(auth, internalToken))
}

export const makeAccess = (
  auth: AuthConfig,
  internalToken: Redacted.Redacted<string> | undefined,
): Access["Service"] => {
  const { authorize, identify } = makeAuthorizer({
    tokens: auth.tokens,
    internalSecret: internalToken,
    rules: odgmRules,
  })
  return { callerOf: identify, authorize }
}
