import { create } from "@bufbuild/protobuf"
import { commonv1 } from "@oprc/proto"
import type { Effect } from "effect"
import { type Condition, decodeCondition } from "../condition"
import {
  type ClusterDeploymentStatus,
  decodeDeployment,
  decodeDeploymentUnit,
  type Deployment,
  type DeploymentStatus,
  type DeploymentUnit,
  type Nfr,
  type OdgmSpec,
} from "../deployment"
import type { ValidationError } from "../errors"
import * as T from "./enums"
import { classInput, classToProto, functionInput, functionToProto, msField, num, tsOf } from "./package"

/** Deployment, DeploymentUnit and Condition <-> oprc.common.v1; incoming messages are validated like REST bodies. */

type Input = Record<string, unknown>

export const conditionToProto = (c: Condition): commonv1.Condition =>
  create(commonv1.ConditionSchema, {
    type: c.type,
    status: T.conditionStatus.toProto(c.status),
    reason: c.reason,
    message: c.message,
    lastTransitionTime: tsOf(c.lastTransitionTime),
    observedGeneration: BigInt(c.observedGeneration),
  })

const conditionInput = (c: commonv1.Condition): Input => ({
  type: c.type,
  ...T.enumField("status", T.conditionStatus, c.status),
  reason: c.reason,
  message: c.message,
  ...msField("lastTransitionTime", c.lastTransitionTime),
  observedGeneration: num(c.observedGeneration),
})

export const conditionFromProto = (msg: commonv1.Condition): Effect.Effect<Condition, ValidationError> =>
  decodeCondition(conditionInput(msg))

const nfrToProto = (n: Nfr): commonv1.Nfr =>
  create(commonv1.NfrSchema, {
    minThroughputRps: n.minThroughputRps,
    maxLatencyP99Ms: n.maxLatencyP99Ms,
    availability: n.availability,
    consistency: n.consistency === undefined ? commonv1.Consistency.UNSPECIFIED : T.consistency.toProto(n.consistency),
  })

const nfrInput = (n: commonv1.Nfr | undefined): Input =>
  n === undefined ? {} : {
    nfr: {
      minThroughputRps: n.minThroughputRps,
      maxLatencyP99Ms: n.maxLatencyP99Ms,
      availability: n.availability,
      ...T.enumField("consistency", T.consistency, n.consistency),
    },
  }

const odgmToProto = (o: OdgmSpec): commonv1.OdgmSpec =>
  create(commonv1.OdgmSpecSchema, {
    partitionCount: o.partitionCount,
    replicaCount: o.replicaCount,
    storage: o.storage === undefined ? commonv1.StorageEngine.UNSPECIFIED : T.storage.toProto(o.storage),
  })

// partitionCount 0 is proto3's "unset": the default of 1 applies rather than a range error.
const odgmInput = (o: commonv1.OdgmSpec | undefined): Input =>
  o === undefined ? {} : {
    odgm: {
      ...(o.partitionCount === 0 ? {} : { partitionCount: o.partitionCount }),
      replicaCount: o.replicaCount,
      ...T.enumField("storage", T.storage, o.storage),
    },
  }

const clusterStatusToProto = (c: ClusterDeploymentStatus): commonv1.ClusterDeploymentStatus =>
  create(commonv1.ClusterDeploymentStatusSchema, {
    cluster: c.cluster,
    unitId: c.unitId,
    phase: T.phase.toProto(c.phase),
    conditions: c.conditions.map(conditionToProto),
    reason: c.reason,
    message: c.message,
    acknowledgedGeneration: BigInt(c.acknowledgedGeneration),
    lastContact: tsOf(c.lastContact),
    functions: [...(c.functions ?? [])],
    ...(c.nfr === undefined ? {} : { nfr: c.nfr }),
  })

const statusToProto = (s: DeploymentStatus): commonv1.DeploymentStatus =>
  create(commonv1.DeploymentStatusSchema, {
    phase: T.phase.toProto(s.phase),
    reason: s.reason,
    message: s.message,
    clusters: s.clusters.map(clusterStatusToProto),
    updatedAt: tsOf(s.updatedAt),
    conditions: s.conditions.map(conditionToProto),
  })

const statusInput = (s: commonv1.DeploymentStatus): Input => ({
  ...T.enumField("phase", T.phase, s.phase),
  reason: s.reason,
  message: s.message,
  clusters: s.clusters.map((c) => ({
    cluster: c.cluster,
    unitId: c.unitId,
    ...T.enumField("phase", T.phase, c.phase),
    conditions: c.conditions.map(conditionInput),
    reason: c.reason,
    message: c.message,
    acknowledgedGeneration: num(c.acknowledgedGeneration),
    ...msField("lastContact", c.lastContact),
    ...(c.functions.length === 0 ? {} : {
      functions: c.functions.map((f) => ({
        function: f.function,
        desiredReplicas: f.desiredReplicas,
        readyReplicas: f.readyReplicas,
        message: f.message,
      })),
    }),
    ...(c.nfr === undefined ? {} : {
      nfr: {
        recommendedReplicas: c.nfr.recommendedReplicas,
        observedRps: c.nfr.observedRps,
        observedP99Ms: c.nfr.observedP99Ms,
        reason: c.nfr.reason,
      },
    }),
  })),
  ...msField("updatedAt", s.updatedAt),
  conditions: s.conditions.map(conditionInput),
})

export const deploymentToProto = (d: Deployment): commonv1.Deployment =>
  create(commonv1.DeploymentSchema, {
    key: d.key,
    packageName: d.packageName,
    classKey: d.classKey,
    targetClusters: [...d.targetClusters],
    nfr: nfrToProto(d.nfr),
    enforcement: T.enforcement.toProto(d.enforcement),
    clusterTemplates: { ...d.clusterTemplates },
    odgm: odgmToProto(d.odgm),
    revision: BigInt(d.revision),
    createdAt: tsOf(d.createdAt),
    updatedAt: tsOf(d.updatedAt),
    status: d.status === undefined ? undefined : statusToProto(d.status),
    placedClusters: [...d.placedClusters],
  })

const deploymentInput = (d: commonv1.Deployment): Input => ({
  key: d.key,
  packageName: d.packageName,
  classKey: d.classKey,
  targetClusters: d.targetClusters,
  ...nfrInput(d.nfr),
  ...T.enumField("enforcement", T.enforcement, d.enforcement),
  clusterTemplates: d.clusterTemplates,
  ...odgmInput(d.odgm),
  revision: num(d.revision),
  ...msField("createdAt", d.createdAt),
  ...msField("updatedAt", d.updatedAt),
  ...(d.status === undefined ? {} : { status: statusInput(d.status) }),
  placedClusters: d.placedClusters,
})

export const deploymentFromProto = (msg: commonv1.Deployment): Effect.Effect<Deployment, ValidationError> =>
  decodeDeployment(deploymentInput(msg))

export const deploymentUnitToProto = (u: DeploymentUnit): commonv1.DeploymentUnit =>
  create(commonv1.DeploymentUnitSchema, {
    id: u.id,
    deploymentKey: u.deploymentKey,
    packageName: u.packageName,
    packageVersion: u.packageVersion,
    cluster: u.cluster,
    cls: classToProto(u.cls),
    functions: u.functions.map(functionToProto),
    nfr: nfrToProto(u.nfr),
    enforcement: T.enforcement.toProto(u.enforcement),
    template: u.template,
    odgm: odgmToProto(u.odgm),
    generation: BigInt(u.generation),
    labels: { ...u.labels },
  })

const unitInput = (u: commonv1.DeploymentUnit): Input => ({
  id: u.id,
  deploymentKey: u.deploymentKey,
  packageName: u.packageName,
  packageVersion: u.packageVersion,
  cluster: u.cluster,
  ...(u.cls === undefined ? {} : { cls: classInput(u.cls) }),
  functions: u.functions.map(functionInput),
  ...nfrInput(u.nfr),
  ...T.enumField("enforcement", T.enforcement, u.enforcement),
  template: u.template,
  ...odgmInput(u.odgm),
  generation: num(u.generation),
  labels: u.labels,
})

export const deploymentUnitFromProto = (msg: commonv1.DeploymentUnit): Effect.Effect<DeploymentUnit, ValidationError> =>
  decodeDeploymentUnit(unitInput(msg))
