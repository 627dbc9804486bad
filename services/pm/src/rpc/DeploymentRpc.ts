import { create } from "@bufbuild/protobuf"
import { Effect, Stream } from "effect"
import {
  type Deployment,
  deploymentFromProto,
  deploymentToProto,
  prefixViolations,
  ValidationError,
} from "@oprc/models"
import { pmv1 } from "@oprc/proto"
import { rpcService } from "@oprc/rpc"
import { Deployments } from "../deployments/Deployments"
import { Packages } from "../packages/Packages"
import { withReferences } from "../packages/references"
import { perPage, perRevision } from "../storage/answers"
import { checkName } from "./names"

// An unchanged deployment reads as the same object (Deployments' views, withReferences), so its
// proto form and the GetDeployment answer are built once per revision (storage/answers.ts).
const toProto = perRevision(deploymentToProto)
const getAnswer = perRevision((d: Deployment): pmv1.GetDeploymentResponse =>
  create(pmv1.GetDeploymentResponseSchema, { deployment: toProto(d) })
)
const listAnswer = perPage((items: ReadonlyArray<Deployment>, next: string | undefined): pmv1.ListDeploymentsResponse =>
  create(pmv1.ListDeploymentsResponseSchema, { deployments: items.map(toProto), nextCursor: next ?? "" })
)

/** oprc.pm.v1.DeploymentService, including the WatchDeployment status stream. */
export const deploymentRpc = rpcService(
  pmv1.DeploymentService,
  Effect.gen(function*() {
    const deployments = yield* Deployments
    const resolved = withReferences(yield* Packages)
    const decode = (msg: pmv1.CreateDeploymentRequest["deployment"]) =>
      msg === undefined
        ? Effect.fail(ValidationError.single("", "is required"))
        : deploymentFromProto(msg)
    /** Paths in the request message start at its `deployment` field, whichever check found the problem. */
    const within = <A, E>(effect: Effect.Effect<A, E>) =>
      Effect.mapError(effect, (e) => (e instanceof ValidationError ? prefixViolations("deployment")(e) : e))
    return {
      createDeployment: (req: pmv1.CreateDeploymentRequest) =>
        Effect.gen(function*() {
          return {
            deployment: deploymentToProto(yield* within(Effect.flatMap(decode(req.deployment), deployments.create))),
          }
        }),
      getDeployment: (req: pmv1.GetDeploymentRequest) =>
        Effect.gen(function*() {
          return getAnswer(yield* resolved(yield* deployments.get(yield* checkName("key", req.key))))
        }),
      listDeployments: (req: pmv1.ListDeploymentsRequest) =>
        Effect.gen(function*() {
          const query = {
            packageName: req.packageName,
            classKey: req.classKey,
            cluster: req.cluster,
            limit: req.limit,
            cursor: req.cursor,
          }
          const page = yield* deployments.list(query)
          const items = yield* Effect.forEach(page.items, resolved, { concurrency: 8 })
          return listAnswer(JSON.stringify(query), items, page.nextCursor, page.bytes)
        }),
      updateDeployment: (req: pmv1.UpdateDeploymentRequest) =>
        Effect.gen(function*() {
          const updated = yield* within(
            Effect.flatMap(decode(req.deployment), (d) => deployments.update(d, Number(req.expectedRevision))),
          )
          return { deployment: deploymentToProto(updated) }
        }),
      deleteDeployment: (req: pmv1.DeleteDeploymentRequest) =>
        Effect.gen(function*() {
          return { deployment: deploymentToProto(yield* deployments.delete(yield* checkName("key", req.key))) }
        }),
      watchDeployment: (req: pmv1.WatchDeploymentRequest) =>
        Stream.unwrap(
          Effect.map(checkName("key", req.key), (key) =>
            deployments.watch(key).pipe(Stream.mapEffect((d) =>
              Effect.map(resolved(d), (r) => ({ deployment: toProto(r) }))
            ))),
        ),
    }
  }),
)
