// Simulated workload controllers (there is no kubelet): Deployments, StatefulSets, Jobs, HPAs and
// Knative Services report readiness after a delay, or a failure a test asked for.
import type { Api } from "./api.ts"
import type { Registry } from "./registry.ts"
import { getPath } from "./scale.ts"
import type { StoreEvent } from "./store.ts"
import { clone, nowTimestamp, type Obj, type ResourceType } from "./types.ts"

export interface WorkloadOptions {
  /** How long a workload takes to become ready after each spec change. */
  readyDelayMs: number
}

type Outcome = { fail: false } | { fail: true; reason: string; message: string }

const MANAGER = "emulator-workload-controller"
const WATCHED = new Set([
  "apps/deployments",
  "apps/statefulsets",
  "batch/jobs",
  "autoscaling/horizontalpodautoscalers",
  "serving.knative.dev/services",
  "keda.sh/scaledobjects",
])

/** A condition; an unchanged one is kept as it was, so re-reporting it is a no-op write. */
const cond = (
  type: string,
  status: string,
  reason: string,
  message: string,
  previous?: Obj[],
  withUpdateTime = true,
) => {
  const old = previous?.find((c) => c.type === type)
  if (old && old.status === status && old.reason === reason && old.message === message) return old
  const now = nowTimestamp()
  const transition = !old || old.status !== status ? now : (old.lastTransitionTime ?? now)
  return {
    type,
    status,
    reason,
    message,
    ...(withUpdateTime ? { lastUpdateTime: now } : {}),
    lastTransitionTime: transition,
  }
}

export class WorkloadControllers {
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>()
  private readonly outcomes = new Map<string, Outcome>()

  constructor(
    private readonly api: Api,
    private readonly registry: Registry,
    private readonly options: WorkloadOptions,
  ) {}

  private key = (storage: string, ns: string, name: string) => `${storage}/${ns}/${name}`

  /** Makes the named workload fail (now and after later spec changes) until `succeed` is called. */
  fail(
    kind: string,
    namespace: string,
    name: string,
    reason = "SimulatedFailure",
    message = "failure injected by the test",
  ): void {
    const storage = this.storageOf(kind)
    this.outcomes.set(this.key(storage, namespace, name), { fail: true, reason, message })
    this.kick(storage, namespace, name, 0)
  }

  succeed(kind: string, namespace: string, name: string): void {
    const storage = this.storageOf(kind)
    this.outcomes.delete(this.key(storage, namespace, name))
    this.kick(storage, namespace, name, this.options.readyDelayMs)
  }

  private storageOf(kind: string): string {
    const map: Record<string, string> = {
      Deployment: "apps/deployments",
      StatefulSet: "apps/statefulsets",
      Job: "batch/jobs",
      HorizontalPodAutoscaler: "autoscaling/horizontalpodautoscalers",
      Service: "serving.knative.dev/services",
      KnativeService: "serving.knative.dev/services",
      ScaledObject: "keda.sh/scaledobjects",
    }
    const s = map[kind]
    if (!s) throw new Error(`no simulated controller for kind ${kind}`)
    return s
  }

  stop(): void {
    for (const t of this.timers.values()) clearTimeout(t)
    this.timers.clear()
  }

  onEvent(e: StoreEvent): void {
    if (!WATCHED.has(e.storage) || e.type === "DELETED") {
      if (e.type === "DELETED") clearTimeout(this.timers.get(this.key(e.storage, e.namespace, e.name)))
      if (e.storage === "apps/deployments" || e.storage === "apps/statefulsets") {
        this.kickHpas(e.namespace, e.object.kind, e.name)
      }
      return
    }
    const o = e.object
    if (o.metadata.deletionTimestamp) return
    const observed = o.status?.observedGeneration
    // Jobs have no observedGeneration: they run once.
    if (e.storage === "batch/jobs") {
      if (o.status?.startTime === undefined) this.kick(e.storage, e.namespace, e.name, 0)
      return
    }
    if (e.storage === "autoscaling/horizontalpodautoscalers") {
      if (observed !== o.metadata.generation) this.kick(e.storage, e.namespace, e.name, 0)
      return
    }
    if (observed !== o.metadata.generation) this.kick(e.storage, e.namespace, e.name, 0)
    if (e.storage === "apps/deployments" || e.storage === "apps/statefulsets") {
      this.kickHpas(e.namespace, o.kind, e.name)
    }
  }

  /** HPAs that target the workload that changed. */
  private kickHpas(namespace: string, kind: string, name: string): void {
    for (const h of this.api.store.list("autoscaling/horizontalpodautoscalers", namespace)) {
      if (h.spec?.scaleTargetRef?.kind === kind && h.spec?.scaleTargetRef?.name === name) {
        this.kick("autoscaling/horizontalpodautoscalers", namespace, h.metadata.name, 0)
      }
    }
  }

  private kick(storage: string, ns: string, name: string, delay: number): void {
    const k = this.key(storage, ns, name)
    clearTimeout(this.timers.get(k))
    this.timers.set(
      k,
      setTimeout(() => {
        this.timers.delete(k)
        this.step(storage, ns, name)
      }, delay),
    )
  }

  private typeFor(storage: string): ResourceType | undefined {
    const i = storage.indexOf("/")
    return this.registry.anyVersion(storage.slice(0, i), storage.slice(i + 1))
  }

  private writeStatus(rt: ResourceType, o: Obj, status: Obj): void {
    const next = clone(o)
    next.status = status
    try {
      this.api.update(
        { rt, namespace: o.metadata.namespace ?? "", name: o.metadata.name, subresource: "status" },
        next,
        { fieldManager: MANAGER },
      )
    } catch {}
  }

  /** One controller step: first report progress, then (after the delay) the outcome. */
  private step(storage: string, ns: string, name: string): void {
    const rt = this.typeFor(storage)
    if (!rt) return
    const o = this.api.find(rt, ns, name)
    if (!o || o.metadata.deletionTimestamp) return
    const k = this.key(storage, ns, name)
    const outcome = this.outcomes.get(k) ?? { fail: false }
    switch (storage) {
      case "apps/deployments":
      case "apps/statefulsets":
        return this.rollout(rt, o, outcome, k)
      case "batch/jobs":
        return this.job(rt, o, outcome, k)
      case "autoscaling/horizontalpodautoscalers":
        return this.hpa(rt, o)
      case "serving.knative.dev/services":
        return this.knative(rt, o, outcome, k)
      case "keda.sh/scaledobjects":
        return this.scaledObject(rt, o, outcome)
    }
  }

  /** Phase one: observed but not ready; phase two after the delay: ready (or failed). */
  private phase(k: string, o: Obj): "progressing" | "settled" {
    const marker = `${o.metadata.generation}`
    const seen = this.progressed.get(k)
    if (seen === marker) return "settled"
    this.progressed.set(k, marker)
    return "progressing"
  }
  private readonly progressed = new Map<string, string>()

  private rollout(rt: ResourceType, o: Obj, outcome: Outcome, k: string): void {
    const replicas = Number(o.spec?.replicas ?? 1)
    const gen = o.metadata.generation
    const prev = (o.status?.conditions ?? []) as Obj[]
    const deployment = rt.kind === "Deployment"
    if (outcome.fail) {
      this.progressed.set(k, `${gen}`)
      this.writeStatus(rt, o, {
        observedGeneration: gen,
        replicas,
        updatedReplicas: replicas,
        readyReplicas: 0,
        availableReplicas: 0,
        unavailableReplicas: replicas,
        ...(deployment ?
          {
            conditions: [
              cond(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                prev,
              ),
              cond(
                "Progressing",
                "False",
                outcome.reason === "SimulatedFailure" ? "ProgressDeadlineExceeded" : outcome.reason,
                outcome.message,
                prev,
              ),
            ],
          } :
          { currentReplicas: replicas, conditions: [cond("Ready", "False", outcome.reason, outcome.message, prev)] }),
      })
      return
    }
    if (this.phase(k, o) === "progressing") {
      const ready = Math.min(Number(o.status?.readyReplicas ?? 0), replicas)
      this.writeStatus(rt, o, {
        observedGeneration: gen,
        replicas,
        updatedReplicas: 0,
        readyReplicas: ready,
        availableReplicas: ready,
        ...(deployment ?
          {
            conditions: [
              cond(
                "Available",
                ready >= replicas && replicas > 0 ? "True" : "False",
                ready >= replicas ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                prev,
              ),
              cond("Progressing", "True", "ReplicaSetUpdated", `ReplicaSet "${o.metadata.name}" is progressing.`, prev),
            ],
          } :
          { currentReplicas: ready }),
      })
      this.kick(`${rt.group}/${rt.plural}`, o.metadata.namespace, o.metadata.name, this.options.readyDelayMs)
      return
    }
    this.writeStatus(rt, o, {
      observedGeneration: gen,
      replicas,
      updatedReplicas: replicas,
      readyReplicas: replicas,
      availableReplicas: replicas,
      ...(deployment ?
        {
          conditions: [
            cond("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", prev),
            cond(
              "Progressing",
              "True",
              "NewReplicaSetAvailable",
              `ReplicaSet "${o.metadata.name}" has successfully progressed.`,
              prev,
            ),
          ],
        } :
        {
          currentReplicas: replicas,
          currentRevision: `${o.metadata.name}-${gen}`,
          updateRevision: `${o.metadata.name}-${gen}`,
        }),
    })
  }

  private job(rt: ResourceType, o: Obj, outcome: Outcome, k: string): void {
    const now = nowTimestamp()
    if (o.status?.startTime === undefined) {
      this.progressed.set(k, "started")
      this.writeStatus(rt, o, { startTime: now, active: Number(o.spec?.parallelism ?? 1) })
      this.kick("batch/jobs", o.metadata.namespace, o.metadata.name, this.options.readyDelayMs)
      return
    }
    const done = (o.status?.conditions ?? []).some((c: Obj) =>
      (c.type === "Complete" || c.type === "Failed") && c.status === "True"
    )
    if (done) return
    if (outcome.fail) {
      this.writeStatus(rt, o, {
        ...o.status,
        active: 0,
        failed: Number(o.spec?.backoffLimit ?? 6) + 1,
        conditions: [{
          type: "Failed",
          status: "True",
          reason: outcome.reason === "SimulatedFailure" ? "BackoffLimitExceeded" : outcome.reason,
          message: outcome.message,
          lastProbeTime: now,
          lastTransitionTime: now,
        }],
      })
      return
    }
    this.writeStatus(rt, o, {
      ...o.status,
      active: 0,
      succeeded: Number(o.spec?.completions ?? 1),
      completionTime: now,
      ready: 0,
      conditions: [{ type: "Complete", status: "True", lastProbeTime: now, lastTransitionTime: now }],
    })
  }

  private hpa(rt: ResourceType, o: Obj): void {
    const ref = o.spec?.scaleTargetRef ?? {}
    const target =
      this.registry.all().find((t) =>
        t.kind === ref.kind && `${t.group === "" ? "" : `${t.group}/`}${t.version}` === ref.apiVersion
      )
        ?? this.registry.all().find((t) => t.kind === ref.kind && t.scale)
    const min = Number(o.spec?.minReplicas ?? 1)
    const max = Number(o.spec?.maxReplicas ?? min)
    const obj = target?.scale ? this.api.find(target, o.metadata.namespace, ref.name) : undefined
    const prev = (o.status?.conditions ?? []) as Obj[]
    if (!target?.scale || !obj) {
      this.writeStatus(rt, o, {
        observedGeneration: o.metadata.generation,
        currentReplicas: 0,
        desiredReplicas: 0,
        conditions: [
          cond(
            "AbleToScale",
            "False",
            "FailedGetScale",
            `the HPA controller was unable to get the target's current scale: ${ref.kind}/${ref.name} not found`,
            prev,
            false,
          ),
        ],
      })
      return
    }
    const current = Number(getPath(obj, target.scale.specReplicasPath) ?? 0)
    const desired = Math.min(max, Math.max(min, current))
    if (desired !== current) {
      try {
        this.api.update({ rt: target, namespace: o.metadata.namespace, name: ref.name, subresource: "scale" }, {
          spec: { replicas: desired },
        }, { fieldManager: "horizontal-pod-autoscaler" })
      } catch {}
    }
    this.writeStatus(rt, o, {
      observedGeneration: o.metadata.generation,
      currentReplicas: current,
      desiredReplicas: desired,
      ...(desired !== current
        ? { lastScaleTime: nowTimestamp() }
        : o.status?.lastScaleTime
        ? { lastScaleTime: o.status.lastScaleTime }
        : {}),
      currentMetrics: [],
      conditions: [
        cond(
          "AbleToScale",
          "True",
          desired !== current ? "SucceededRescale" : "ReadyForNewScale",
          "the HPA controller was able to update the target scale",
          prev,
          false,
        ),
        cond(
          "ScalingActive",
          "True",
          "ValidMetricFound",
          "the HPA was able to successfully calculate a replica count",
          prev,
          false,
        ),
        cond(
          "ScalingLimited",
          desired !== current ? "True" : "False",
          desired !== current ? (desired > current ? "TooFewReplicas" : "TooManyReplicas") : "DesiredWithinRange",
          desired !== current
            ? "the desired replica count is outside the acceptable range"
            : "the desired count is within the acceptable range",
          prev,
          false,
        ),
      ],
    })
  }

  private knative(rt: ResourceType, o: Obj, outcome: Outcome, k: string): void {
    const gen = o.metadata.generation
    const ns = o.metadata.namespace
    const revision = `${o.metadata.name}-${String(gen).padStart(5, "0")}`
    const prev = (o.status?.conditions ?? []) as Obj[]
    const url = `http://${o.metadata.name}.${ns}.example.com`
    const kcond = (type: string, status: string, reason?: string, message?: string) => ({
      type,
      status,
      ...(reason ? { reason } : {}),
      ...(message ? { message } : {}),
      lastTransitionTime: prev.find((c) => c.type === type)?.status === status
        ? prev.find((c) => c.type === type)!.lastTransitionTime
        : nowTimestamp(),
    })
    if (outcome.fail) {
      this.progressed.set(k, `${gen}`)
      this.writeStatus(rt, o, {
        observedGeneration: gen,
        latestCreatedRevisionName: revision,
        ...(o.status?.latestReadyRevisionName ? { latestReadyRevisionName: o.status.latestReadyRevisionName } : {}),
        conditions: [
          kcond("ConfigurationsReady", "False", outcome.reason, outcome.message),
          kcond("Ready", "False", outcome.reason, outcome.message),
          kcond("RoutesReady", "Unknown", outcome.reason, outcome.message),
        ],
      })
      return
    }
    if (this.phase(k, o) === "progressing") {
      this.writeStatus(rt, o, {
        ...(o.status ?? {}),
        observedGeneration: gen,
        latestCreatedRevisionName: revision,
        conditions: [
          kcond(
            "ConfigurationsReady",
            "Unknown",
            "RevisionMissing",
            `Configuration "${o.metadata.name}" is waiting for a Revision to become ready.`,
          ),
          kcond(
            "Ready",
            "Unknown",
            "RevisionMissing",
            `Configuration "${o.metadata.name}" is waiting for a Revision to become ready.`,
          ),
          kcond("RoutesReady", "Unknown", "RevisionMissing", "waiting"),
        ],
      })
      this.kick("serving.knative.dev/services", ns, o.metadata.name, this.options.readyDelayMs)
      return
    }
    this.writeStatus(rt, o, {
      observedGeneration: gen,
      url,
      address: { url: `http://${o.metadata.name}.${ns}.svc.cluster.local` },
      latestCreatedRevisionName: revision,
      latestReadyRevisionName: revision,
      traffic: [{ revisionName: revision, latestRevision: true, percent: 100 }],
      conditions: [kcond("ConfigurationsReady", "True"), kcond("Ready", "True"), kcond("RoutesReady", "True")],
    })
  }

  private scaledObject(rt: ResourceType, o: Obj, outcome: Outcome): void {
    const prev = (o.status?.conditions ?? []) as Obj[]
    const ref = o.spec?.scaleTargetRef ?? {}
    this.writeStatus(rt, o, {
      observedGeneration: o.metadata.generation,
      scaleTargetKind: `${ref.apiVersion ?? "apps/v1"}.${ref.kind ?? "Deployment"}`,
      originalReplicaCount: o.status?.originalReplicaCount,
      conditions: outcome.fail
        ? [
          cond("Ready", "False", outcome.reason, outcome.message, prev),
          cond("Active", "False", outcome.reason, outcome.message, prev),
        ]
        : [
          cond(
            "Ready",
            "True",
            "ScaledObjectReady",
            "ScaledObject is defined correctly and is ready for scaling",
            prev,
          ),
          cond("Active", "False", "ScalerNotActive", "Scaling is not performed because triggers are not active", prev),
        ],
    })
  }
}
