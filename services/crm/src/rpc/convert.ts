import { create } from "@bufbuild/protobuf"
import { timestampFromMs } from "@bufbuild/protobuf/wkt"
import { conditionToProto, protoEnum } from "@oprc/models"
import { crmv1 } from "@oprc/proto"
import type { UnitStatus } from "../runtime/status"

/** A unit's status on the wire. */
export const statusToProto = (s: UnitStatus): crmv1.DeploymentUnitStatus =>
  create(crmv1.DeploymentUnitStatusSchema, {
    unitId: s.unitId,
    phase: protoEnum.phase.toProto(s.phase),
    conditions: s.conditions.map(conditionToProto),
    observedGeneration: BigInt(s.observedGeneration),
    message: s.message,
    functions: s.functions.map((f) => ({
      function: f.function,
      desiredReplicas: f.desiredReplicas,
      readyReplicas: f.readyReplicas,
      url: f.urls[0] ?? "",
      urls: [...f.urls],
      message: f.message,
    })),
    odgmUrl: s.odgmUrl,
    updatedAt: timestampFromMs(s.updatedAt),
    ...(s.recommendation === undefined ? {} : {
      recommendation: {
        replicas: s.recommendation.replicas,
        reason: s.recommendation.reason,
        observedRps: s.recommendation.observedRps,
        observedP99Ms: s.recommendation.observedP99Ms,
      },
    }),
  })
