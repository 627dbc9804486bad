import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { Effect } from "effect"
import { deploymentUnitToProto } from "@oprc/models"
import { crmv1 } from "@oprc/proto"
import { makeClient } from "@oprc/rpc"
import { makeTempDir, removeTempDir } from "@oprc/test-harness"
import { counterUnit, startCrm, startOdgm } from "./support"

let odgm: Awaited<ReturnType<typeof startOdgm>>
let crm: Awaited<ReturnType<typeof startCrm>>
let dir: string

const as = (token: string | undefined) =>
  makeClient(crmv1.RuntimeService, {
    baseUrl: crm.url,
    timeoutMs: 10_000,
    retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    ...(token === undefined ? {} : { headers: () => ({ authorization: `Bearer ${token}` }) }),
  })
// A function that is already running elsewhere: no process needed to check who may apply it.
const unit = counterUnit({ id: "auth-local", deploymentKey: "auth", packageName: "auth" as never }, [], {
  url: "http://127.0.0.1:9",
})
const code = <A>(e: Effect.Effect<A, { code: string }>) =>
  Effect.runPromise(e.pipe(Effect.as("ok"), Effect.catch((x) => Effect.succeed(x.code))))

beforeAll(async () => {
  dir = makeTempDir("crm-auth")
  odgm = await startOdgm()
  crm = await startCrm(odgm.url, dir, {
    auth: {
      tokens: [{ name: "pm", token: "deploy-secret", role: "deployer" }, {
        name: "viewer",
        token: "read-secret",
        role: "reader",
      }],
    },
  })
})
afterAll(async () => {
  await crm?.stop()
  await odgm?.stop()
  removeTempDir(dir)
})

describe("CRM auth (the shared authorizer of @oprc/rpc)", () => {
  test("Apply/Delete need deployer, reads need reader, health is public", async () => {
    const apply = (token: string | undefined) =>
      code(as(token).applyDeploymentUnit({ unit: deploymentUnitToProto(unit) }))
    expect(await apply(undefined)).toBe("unauthenticated")
    expect(await apply("wrong")).toBe("unauthenticated")
    expect(await apply("read-secret")).toBe("permission_denied")
    expect(await apply("deploy-secret")).toBe("ok")
    expect(await code(as("read-secret").getDeploymentUnit({ unitId: unit.id }))).toBe("ok")
    expect(await code(as(undefined).listDeploymentUnits({}))).toBe("unauthenticated")
    expect(await code(as("read-secret").deleteDeploymentUnit({ unitId: unit.id }))).toBe("permission_denied")
    expect(await code(as("deploy-secret").deleteDeploymentUnit({ unitId: unit.id }))).toBe("ok")
    const health = await fetch(`${crm.url}/grpc.health.v1.Health/Check`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    })
    expect(health.status).toBe(200)
  })
})
