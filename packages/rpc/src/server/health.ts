import { Effect, Schedule, Stream } from "effect"
import { Code, ConnectError } from "@connectrpc/connect"
import { Health } from "@oprc/observability"
import { healthv1 } from "@oprc/proto"
import { rpcService } from "./rpcService"

const { HealthCheckResponse_ServingStatus: Status } = healthv1

/**
 * grpc.health.v1 over every protocol. "" is the whole server; a named service is SERVING when it
 * is mounted here and the server is ready. Readiness comes from the Health registry, so a broken
 * dependency (etcd down, NATS gone) shows up as NOT_SERVING to load balancers and kubelets.
 */
export const healthService = (serviceNames: ReadonlyArray<string>) =>
  rpcService(
    healthv1.Health,
    Effect.gen(function*() {
      const health = yield* Health
      const status = (service: string) =>
        Effect.gen(function*() {
          if (service !== "" && !serviceNames.includes(service) && service !== "grpc.health.v1.Health") {
            return Status.SERVICE_UNKNOWN
          }
          const r = yield* health.readiness
          return r.ready ? Status.SERVING : Status.NOT_SERVING
        })
      return {
        check: (req) =>
          status(req.service).pipe(
            Effect.flatMap((s) =>
              s === Status.SERVICE_UNKNOWN
                ? Effect.fail(new ConnectError(`unknown service "${req.service}"`, Code.NotFound))
                : Effect.succeed({ status: s })
            ),
          ),
        watch: (req) =>
          Stream.fromEffectSchedule(status(req.service), Schedule.spaced("1 second")).pipe(
            Stream.changes,
            Stream.map((s) => ({ status: s })),
          ),
      }
    }),
  )
