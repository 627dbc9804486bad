import { existsSync } from "node:fs"
import { Effect, Stream } from "effect"
import {
  deploymentUnitFromProto,
  deploymentUnitToProto,
  NotFound,
  prefixViolations,
  ValidationError,
} from "@oprc/models"
import { crmv1 } from "@oprc/proto"
import { rpcService } from "@oprc/rpc"
import type { ProcessDriverConfig } from "../config"
import { logFile, tail } from "../driver/process/logs"
import { Runtime } from "../runtime/Runtime"
import { statusToProto } from "./convert"

/** oprc.crm.v1.RuntimeService over the Runtime; units are decoded (with field paths) here and nowhere else. */
export const runtimeRpc = (processConfig: ProcessDriverConfig) =>
  rpcService(
    crmv1.RuntimeService,
    Effect.gen(function*() {
      const runtime = yield* Runtime
      const view = (
        v: { unit: Parameters<typeof deploymentUnitToProto>[0]; status: Parameters<typeof statusToProto>[0] },
      ) => ({
        unit: deploymentUnitToProto(v.unit),
        status: statusToProto(v.status),
      })
      return {
        applyDeploymentUnit: (req: crmv1.ApplyDeploymentUnitRequest) =>
          Effect.gen(function*() {
            if (req.unit === undefined) return yield* ValidationError.single("unit", "is required")
            const unit = yield* deploymentUnitFromProto(req.unit).pipe(Effect.mapError(prefixViolations("unit")))
            return { status: statusToProto(yield* runtime.apply(unit)) }
          }),
        deleteDeploymentUnit: (req: crmv1.DeleteDeploymentUnitRequest) =>
          req.unitId === ""
            ? ValidationError.single("unitId", "is required")
            : Effect.map(runtime.remove(req.unitId), (existed) => ({ existed })),
        getDeploymentUnit: (req: crmv1.GetDeploymentUnitRequest) => Effect.map(runtime.get(req.unitId), view),
        listDeploymentUnits: (req: crmv1.ListDeploymentUnitsRequest) =>
          Effect.map(runtime.list(req.deploymentKey), (all) => ({ units: all.map(view) })),
        watchDeploymentUnits: (req: crmv1.WatchDeploymentUnitsRequest) =>
          runtime.watch(req.unitId).pipe(Stream.map((s) => ({ status: statusToProto(s) }))),
        tailLogs: (req: crmv1.TailLogsRequest) =>
          Effect.gen(function*() {
            if (req.stream !== "" && req.stream !== "stdout" && req.stream !== "stderr") {
              return yield* ValidationError.single(
                "stream",
                `must be "stdout" or "stderr", not ${JSON.stringify(req.stream)}`,
              )
            }
            const { unit } = yield* runtime.get(req.unitId)
            if (!unit.functions.some((f) => f.key === req.function)) {
              return yield* ValidationError.single(
                "function",
                `${JSON.stringify(req.function)} is not a function of unit ${req.unitId}`,
              )
            }
            // A crashed replica's log is the one most worth reading: files outlive their process.
            const file = logFile(
              processConfig.logDir,
              req.unitId,
              req.function,
              req.replica,
              req.stream === "stdout" ? "stdout" : "stderr",
            )
            if (!existsSync(file)) {
              return yield* new NotFound({
                resource: "replica log",
                name: `${req.unitId}/${req.function}/${req.replica}`,
              })
            }
            const lines = Math.min(req.lines === 0 ? 100 : req.lines, 1000)
            return { lines: tail(file, lines), file }
          }),
      }
    }),
  )
