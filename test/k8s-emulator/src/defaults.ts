// Defaults the real API server fills in for built-in kinds (the ones clients and `kubectl
// describe` rely on), so a read after a write shows what a cluster would show.
import { isObject, type Obj } from "./types.ts"

function podSpec(spec: Obj | undefined): void {
  if (!isObject(spec)) return
  spec.restartPolicy ??= "Always"
  spec.dnsPolicy ??= "ClusterFirst"
  spec.terminationGracePeriodSeconds ??= 30
  spec.schedulerName ??= "default-scheduler"
  spec.securityContext ??= {}
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    if (!isObject(c)) continue
    c.terminationMessagePath ??= "/dev/termination-log"
    c.terminationMessagePolicy ??= "File"
    c.resources ??= {}
    if (c.imagePullPolicy === undefined && typeof c.image === "string") {
      c.imagePullPolicy = c.image.endsWith(":latest") || !/:[^/]+$/.test(c.image) ? "Always" : "IfNotPresent"
    }
    for (const p of c.ports ?? []) if (isObject(p)) p.protocol ??= "TCP"
  }
}

let nextClusterIp = 1

const DEFAULTERS: Record<string, (o: Obj) => void> = {
  Namespace(o) {
    o.metadata.labels = { ...(o.metadata.labels ?? {}), "kubernetes.io/metadata.name": o.metadata.name }
    o.spec ??= {}
    o.spec.finalizers ??= ["kubernetes"]
    o.status ??= {}
    o.status.phase ??= "Active"
  },
  Secret(o) {
    o.type ??= "Opaque"
    if (isObject(o.stringData)) {
      o.data ??= {}
      for (const [k, v] of Object.entries(o.stringData)) o.data[k] = Buffer.from(String(v)).toString("base64")
      delete o.stringData
    }
  },
  Service(o) {
    o.spec ??= {}
    o.spec.type ??= "ClusterIP"
    o.spec.sessionAffinity ??= "None"
    if (o.spec.clusterIP === undefined) {
      const n = nextClusterIp++
      o.spec.clusterIP = `10.96.${(n >> 8) & 255}.${n & 255}`
      o.spec.clusterIPs = [o.spec.clusterIP]
    }
    for (const p of o.spec.ports ?? []) {
      if (!isObject(p)) continue
      p.protocol ??= "TCP"
      p.targetPort ??= p.port
    }
  },
  Pod(o) {
    podSpec(o.spec)
    o.status ??= { phase: "Pending" }
  },
  Deployment(o) {
    o.spec ??= {}
    o.spec.replicas ??= 1
    o.spec.revisionHistoryLimit ??= 10
    o.spec.progressDeadlineSeconds ??= 600
    o.spec.strategy ??= { type: "RollingUpdate" }
    if (o.spec.strategy.type === "RollingUpdate") {
      o.spec.strategy.rollingUpdate ??= { maxUnavailable: "25%", maxSurge: "25%" }
    }
    podSpec(o.spec.template?.spec)
  },
  StatefulSet(o) {
    o.spec ??= {}
    o.spec.replicas ??= 1
    o.spec.podManagementPolicy ??= "OrderedReady"
    o.spec.revisionHistoryLimit ??= 10
    o.spec.updateStrategy ??= { type: "RollingUpdate", rollingUpdate: { partition: 0 } }
    podSpec(o.spec.template?.spec)
  },
  ReplicaSet(o) {
    o.spec ??= {}
    o.spec.replicas ??= 1
    podSpec(o.spec.template?.spec)
  },
  Job(o) {
    o.spec ??= {}
    o.spec.parallelism ??= 1
    o.spec.completions ??= 1
    o.spec.backoffLimit ??= 6
    o.spec.completionMode ??= "NonIndexed"
    o.spec.suspend ??= false
    podSpec(o.spec.template?.spec)
  },
  HorizontalPodAutoscaler(o) {
    o.spec ??= {}
    o.spec.minReplicas ??= 1
  },
}

export function applyBuiltinDefaults(o: Obj): void {
  DEFAULTERS[o.kind]?.(o)
}

/** Jobs get a generated selector and `controller-uid` labels, as the real API server adds them. */
export function defaultJobSelector(o: Obj): void {
  if (o.kind !== "Job" || !isObject(o.spec) || o.spec.manualSelector === true) return
  const uid = o.metadata.uid as string
  const labels = {
    "batch.kubernetes.io/controller-uid": uid,
    "batch.kubernetes.io/job-name": o.metadata.name,
    "controller-uid": uid,
    "job-name": o.metadata.name,
  }
  o.spec.selector ??= { matchLabels: { "batch.kubernetes.io/controller-uid": uid } }
  if (isObject(o.spec.template)) {
    o.spec.template.metadata ??= {}
    o.spec.template.metadata.labels = { ...(o.spec.template.metadata.labels ?? {}), ...labels }
  }
}

/** Kinds whose metadata.generation the server maintains. */
export const GENERATION_KINDS = new Set([
  "Deployment",
  "StatefulSet",
  "ReplicaSet",
  "Job",
  "HorizontalPodAutoscaler",
  "CustomResourceDefinition",
])
