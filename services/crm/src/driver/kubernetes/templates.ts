import { createHash } from "node:crypto"
import type { DeploymentRecordSpec, DeploymentTemplateSpec, EnvironmentConfigSpec, RecordFunction } from "./crds"

/** A Kubernetes object as the driver renders and reads it. */
export interface KObject {
  apiVersion: string
  kind: string
  metadata: {
    name: string
    namespace?: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
    ownerReferences?: Array<Record<string, unknown>>
    [k: string]: unknown
  }
  spec?: any
  status?: any
  [k: string]: unknown
}

const BUILTIN_TEMPLATES = ["knative", "k8s-deployment", "job"] as const
export type TemplateBase = (typeof BUILTIN_TEMPLATES)[number]

export type Selection =
  | {
    readonly ok: true
    readonly base: TemplateBase
    readonly name: string
    readonly reason: string
    readonly custom?: DeploymentTemplateSpec
  }
  | { readonly ok: false; readonly reason: string }

const isBuiltin = (s: string): s is TemplateBase => (BUILTIN_TEMPLATES as ReadonlyArray<string>).includes(s)

/**
 * Explicit template first (built-in or a DeploymentTemplate by name); otherwise scored from the
 * NFRs and the functions: batch functions -> job; min 0 or bursty -> knative (scale to zero, fast
 * scale-out); latency-sensitive and steady -> k8s-deployment. The reason is kept in status.
 */
export const selectTemplate = (
  spec: DeploymentRecordSpec,
  templates: ReadonlyMap<string, DeploymentTemplateSpec>,
  env: EnvironmentConfigSpec,
): Selection => {
  const explicit = spec.template ?? ""
  if (explicit !== "") {
    if (isBuiltin(explicit)) {
      return { ok: true, base: explicit, name: explicit, reason: `template ${explicit} requested by the deployment` }
    }
    const custom = templates.get(explicit)
    if (custom !== undefined) {
      return {
        ok: true,
        base: custom.base,
        name: explicit,
        reason: `DeploymentTemplate ${explicit} (base ${custom.base}) requested by the deployment`,
        custom,
      }
    }
    const known = [...BUILTIN_TEMPLATES, ...templates.keys()].join(", ")
    return { ok: false, reason: `unknown template "${explicit}" (known: ${known})` }
  }
  const fns = spec.functions ?? []
  const nfr = spec.nfr ?? {}
  const scores: Record<TemplateBase, { score: number; why: Array<string> }> = {
    "k8s-deployment": { score: 1, why: ["the default for long-running functions"] },
    knative: { score: 0, why: [] },
    job: { score: 0, why: [] },
  }
  if (fns.some((f) => f.type === "BATCH")) scores.job = { score: 10, why: ["batch functions run to completion"] }
  if (fns.some((f) => (f.minScale ?? 0) === 0)) {
    scores.knative.score += 3, scores.knative.why.push("minScale 0 asks for scale to zero")
  }
  if (fns.some((f) => (f.maxScale ?? 0) === 0 || (f.maxScale ?? 0) >= 4 * Math.max(1, f.minScale ?? 0))) {
    scores.knative.score += 1, scores.knative.why.push("a wide scale range (bursty load)")
  }
  if ((nfr.maxLatencyP99Ms ?? 0) > 0 && fns.every((f) => (f.minScale ?? 0) >= 1)) {
    scores["k8s-deployment"].score += 3,
      scores["k8s-deployment"].why.push(`latency-sensitive (p99 <= ${nfr.maxLatencyP99Ms} ms) and always warm`)
  }
  if (env.knativeInstalled === false) {
    scores.knative = { score: -1, why: ["Knative is not installed in this environment"] }
  }
  for (const [name, t] of templates) {
    const sel = t.selection
    if (sel === undefined) continue
    const matches = (sel.functionTypes === undefined || fns.some((f) =>
      sel.functionTypes!.includes(f.type ?? "CUSTOM")
    )) &&
      (sel.minScaleZero === undefined || sel.minScaleZero === fns.some((f) => (f.minScale ?? 0) === 0)) &&
      (sel.latencySensitive === undefined || sel.latencySensitive === (nfr.maxLatencyP99Ms ?? 0) > 0)
    if (matches && (sel.priority ?? 0) > Math.max(...Object.values(scores).map((s) => s.score))) {
      return {
        ok: true,
        base: t.base,
        name,
        reason: `DeploymentTemplate ${name} matches (priority ${sel.priority})`,
        custom: t,
      }
    }
  }
  const best = (Object.entries(scores) as Array<[TemplateBase, { score: number; why: Array<string> }]>).sort((a, b) =>
    b[1].score - a[1].score
  )[0]!
  return { ok: true, base: best[0], name: best[0], reason: `chosen from the NFRs: ${best[1].why.join("; ")}` }
}

/** Replicas of a function: the enforcer's count if set, else max(1, minScale) (0 allowed for knative), within the bounds. */
export type PlannedFunction = RecordFunction & { readonly replicas?: number }

export const replicasOf = (fn: PlannedFunction, allowZero: boolean): number => {
  const min = allowZero ? (fn.minScale ?? 0) : Math.max(1, fn.minScale ?? 0)
  const max = (fn.maxScale ?? 0) === 0 ? Number.MAX_SAFE_INTEGER : Math.max(min, fn.maxScale!)
  return Math.min(max, Math.max(min, fn.replicas ?? min))
}

/** A DNS-1035 child name (<= 63) from the record and the function key; hashed when too long. */
const childName = (record: string, fn: string): string => {
  const raw = `${record}-${fn}`.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/-+/g, "-").replace(/^-|-$/g, "")
  const name = /^[a-z]/.test(raw) ? raw : `f-${raw}`
  if (name.length <= 63) return name
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 8)
  return `${name.slice(0, 54).replace(/-$/, "")}-${hash}`
}

export interface RenderContext {
  readonly record: { readonly name: string; readonly namespace: string; readonly uid: string }
  readonly spec: DeploymentRecordSpec
  readonly env: EnvironmentConfigSpec
  readonly selection: Extract<Selection, { ok: true }>
  readonly odgmUrl: string
}

const MANAGED_BY = "oprc-crm"
export const RECORD_LABEL = "oprc.dev/record"
const FUNCTION_LABEL = "oprc.dev/function"

/** A label value naming the record (names can be 253 long, label values 63). */
export const recordLabel = (
  name: string,
) => (name.length <= 63 ? name : `h-${createHash("sha256").update(name).digest("hex").slice(0, 20)}`)

const labelsOf = (ctx: RenderContext, fn: RecordFunction): Record<string, string> => ({
  ...(ctx.selection.custom?.labels ?? {}),
  "app.kubernetes.io/managed-by": MANAGED_BY,
  "app.kubernetes.io/name": childName(ctx.record.name, fn.key).slice(0, 63),
  [RECORD_LABEL]: recordLabel(ctx.record.name),
  [FUNCTION_LABEL]: fn.key.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 63),
})

const ownerRef = (ctx: RenderContext) => ({
  apiVersion: "oprc.dev/v1alpha1",
  kind: "DeploymentRecord",
  name: ctx.record.name,
  uid: ctx.record.uid,
  controller: true,
  blockOwnerDeletion: true,
})

const meta = (ctx: RenderContext, fn: RecordFunction, extra: Record<string, unknown> = {}) => ({
  name: childName(ctx.record.name, fn.key),
  namespace: ctx.record.namespace,
  labels: labelsOf(ctx, fn),
  ownerReferences: [ownerRef(ctx)],
  ...extra,
})

export const portOf = (fn: RecordFunction) => (fn.port ?? 0) === 0 ? 8080 : fn.port!

const imageOf = (fn: RecordFunction, env: EnvironmentConfigSpec) => {
  const image = fn.image ?? ""
  const registry = env.imageRegistry ?? ""
  if (image === "" || registry === "") return image
  const first = image.split("/")[0]!
  // "nginx" or "team/app" are relative; "ghcr.io/x" (a host with a dot or port) is not.
  return first.includes(".") || first.includes(":") || first === "localhost"
    ? image
    : `${registry.replace(/\/$/, "")}/${image}`
}

const resourcesOf = (fn: RecordFunction, env: EnvironmentConfigSpec) => {
  const pick = (k: "cpuRequest" | "memoryRequest" | "cpuLimit" | "memoryLimit") => {
    const v = fn.resources?.[k] ?? env.resources?.[k] ?? ""
    return v === "" ? undefined : v
  }
  const requests = Object.fromEntries(
    Object.entries({ cpu: pick("cpuRequest"), memory: pick("memoryRequest") }).filter(([, v]) => v !== undefined),
  )
  const limits = Object.fromEntries(
    Object.entries({ cpu: pick("cpuLimit"), memory: pick("memoryLimit") }).filter(([, v]) => v !== undefined),
  )
  return {
    ...(Object.keys(requests).length > 0 ? { requests } : {}),
    ...(Object.keys(limits).length > 0 ? { limits } : {}),
  }
}

const container = (ctx: RenderContext, fn: RecordFunction, withProbe: boolean) => {
  const port = portOf(fn)
  const env = [
    { name: "PORT", value: String(port) },
    { name: "ODGM_URL", value: ctx.odgmUrl },
    { name: "OPRC_CLASS", value: `${ctx.spec.packageName}.${ctx.spec.class.key}` },
    { name: "OPRC_FUNCTION", value: fn.key },
    { name: "OPRC_UNIT", value: ctx.spec.unitId },
    ...Object.entries(fn.config ?? {}).sort(([a], [b]) => a.localeCompare(b)).map(([name, value]) => ({ name, value })),
  ]
  return {
    name: "function",
    image: imageOf(fn, ctx.env),
    ports: [{ name: "http", containerPort: port, protocol: "TCP" }],
    env,
    resources: resourcesOf(fn, ctx.env),
    ...(withProbe ? { readinessProbe: { httpGet: { path: "/readyz", port } } } : {}),
  }
}

const podSpec = (ctx: RenderContext, fn: RecordFunction, extra: Record<string, unknown> = {}) => ({
  containers: [container(ctx, fn, true)],
  ...(ctx.env.nodeSelector !== undefined && Object.keys(ctx.env.nodeSelector).length > 0
    ? { nodeSelector: ctx.env.nodeSelector }
    : {}),
  ...extra,
})

const podMeta = (ctx: RenderContext, fn: RecordFunction, annotations: Record<string, string> = {}) => {
  const all = { ...(ctx.selection.custom?.annotations ?? {}), ...annotations }
  return { labels: labelsOf(ctx, fn), ...(Object.keys(all).length > 0 ? { annotations: all } : {}) }
}

const requestsMetric = (ctx: RenderContext, fn: RecordFunction) =>
  `sum(rate(oprc_function_requests_total{oprc_class="${ctx.spec.packageName}.${ctx.spec.class.key}",oprc_function="${fn.key}"}[1m]))`

/** k8s-deployment: Deployment + Service, and an HPA (or KEDA ScaledObject) when the function may scale. */
const renderDeployment = (ctx: RenderContext, fn: PlannedFunction): Array<KObject> => {
  const replicas = replicasOf(fn, false)
  const max = (fn.maxScale ?? 0) === 0 ? Math.max(replicas, 100) : Math.max(replicas, fn.maxScale!)
  const autoscaled = max > replicas
  const name = childName(ctx.record.name, fn.key)
  const selector = {
    [RECORD_LABEL]: recordLabel(ctx.record.name),
    "app.kubernetes.io/name": labelsOf(ctx, fn)["app.kubernetes.io/name"]!,
  }
  const out: Array<KObject> = [
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: meta(ctx, fn),
      spec: {
        // With an autoscaler the replica count is its field; the driver writes the floor there.
        ...(autoscaled ? {} : { replicas }),
        selector: { matchLabels: selector },
        template: { metadata: podMeta(ctx, fn), spec: podSpec(ctx, fn) },
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: meta(ctx, fn),
      spec: { selector, ports: [{ name: "http", port: 80, targetPort: portOf(fn), protocol: "TCP" }] },
    },
  ]
  if (!autoscaled) return out
  const target = { apiVersion: "apps/v1", kind: "Deployment", name }
  if (ctx.env.kedaInstalled === true) {
    const rps = Math.max(1, Math.round((ctx.spec.nfr?.minThroughputRps ?? 0) / Math.max(1, replicas)) || 50)
    out.push({
      apiVersion: "keda.sh/v1alpha1",
      kind: "ScaledObject",
      metadata: meta(ctx, fn),
      spec: {
        scaleTargetRef: target,
        minReplicaCount: replicas,
        maxReplicaCount: max,
        triggers: [{
          type: "prometheus",
          metadata: {
            serverAddress: ctx.env.prometheusUrl ?? "http://prometheus:9090",
            query: requestsMetric(ctx, fn),
            threshold: String(rps),
          },
        }],
      },
    })
  } else {
    out.push({
      apiVersion: "autoscaling/v2",
      kind: "HorizontalPodAutoscaler",
      metadata: meta(ctx, fn),
      spec: {
        scaleTargetRef: target,
        minReplicas: replicas,
        maxReplicas: max,
        metrics: [{
          type: "Resource",
          resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } },
        }],
      },
    })
  }
  return out
}

/** knative: a serving.knative.dev/v1 Service; min-scale 0 scales to zero. */
const renderKnative = (ctx: RenderContext, fn: PlannedFunction): Array<KObject> => {
  const min = replicasOf(fn, true)
  const annotations: Record<string, string> = { "autoscaling.knative.dev/min-scale": String(min) }
  if ((fn.maxScale ?? 0) > 0) annotations["autoscaling.knative.dev/max-scale"] = String(Math.max(min, fn.maxScale!))
  const c = container(ctx, fn, false)
  return [{
    apiVersion: "serving.knative.dev/v1",
    kind: "Service",
    metadata: meta(ctx, fn),
    spec: {
      template: {
        metadata: podMeta(ctx, fn, annotations),
        spec: {
          containerConcurrency: fn.concurrency ?? 0,
          // Knative sets PORT itself from the single container port.
          containers: [{ ...c, env: c.env.filter((e) => e.name !== "PORT"), ports: [{ containerPort: portOf(fn) }] }],
        },
      },
    },
  }]
}

/** job: a batch/v1 Job per function and spec generation (a Job's template is immutable). */
const renderJob = (ctx: RenderContext, fn: PlannedFunction, generation: number): Array<KObject> => {
  const parallelism = replicasOf(fn, false)
  const base = childName(ctx.record.name, fn.key)
  return [{
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { ...meta(ctx, fn), name: childName(base, `g${generation}`) },
    spec: {
      parallelism,
      completions: parallelism,
      backoffLimit: 3,
      template: { metadata: podMeta(ctx, fn), spec: podSpec(ctx, fn, { restartPolicy: "Never" }) },
    },
  }]
}

/** The record's functions with the enforcer's replica counts (only those set for the current unit generation). */
const plannedFunctions = (spec: DeploymentRecordSpec): Array<PlannedFunction> => {
  const scale = (spec.scaleUnitGeneration ?? 0) === (spec.unitGeneration ?? 0) ? spec.scale ?? {} : {}
  return (spec.functions ?? []).map((fn) => (scale[fn.key] === undefined ? fn : { ...fn, replicas: scale[fn.key]! }))
}

/** Every child of a record for the selected template, per function. */
export const renderChildren = (
  ctx: RenderContext,
  generation: number,
): Array<{ fn: PlannedFunction; objects: Array<KObject> }> =>
  plannedFunctions(ctx.spec).map((fn) => ({
    fn,
    objects: ctx.selection.base === "knative"
      ? renderKnative(ctx, fn)
      : ctx.selection.base === "job"
      ? renderJob(ctx, fn, generation)
      : renderDeployment(ctx, fn),
  }))
