import { describe, expect, test } from "bun:test"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject"
import { Service as KnativeService } from "@kubernetes-models/knative/serving.knative.dev/v1/Service"
import { Deployment } from "kubernetes-models/apps/v1/Deployment"
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet"
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler"
import { Job } from "kubernetes-models/batch/v1/Job"
import { Service } from "kubernetes-models/v1/Service"
import type { DeploymentRecordSpec, EnvironmentConfigSpec } from "../src/driver/kubernetes/crds"
import { generatedFiles } from "../src/driver/kubernetes/manifests"
import { renderOdgm } from "../src/driver/kubernetes/odgm"
import { type KObject, renderChildren, selectTemplate } from "../src/driver/kubernetes/templates"
import { repoRoot } from "./support"

const spec = (over: Partial<DeploymentRecordSpec> = {}, fn: Record<string, unknown> = {}): DeploymentRecordSpec => ({
  unitId: "shop-prod",
  deploymentKey: "shop",
  packageName: "shop",
  unitGeneration: 1,
  class: { key: "Cart", bindings: [{ name: "add", function: "Cart.add" }] },
  functions: [{
    key: "Cart.add",
    image: "shop/cart:1",
    port: 9000,
    minScale: 1,
    maxScale: 1,
    resources: { cpuRequest: "250m" },
    config: { MODE: "x" },
    ...fn,
  }],
  ...over,
})

const render = (s: DeploymentRecordSpec, env: EnvironmentConfigSpec = {}) => {
  const selection = selectTemplate(s, new Map(), env)
  if (!selection.ok) throw new Error(selection.reason)
  return {
    selection,
    objects: renderChildren({
      record: { name: "shop-prod", namespace: "apps", uid: "u-1" },
      spec: s,
      env,
      selection,
      odgmUrl: "http://odgm:8081",
    }, 3).flatMap((r) => r.objects),
  }
}

/** Validates with the official schemas (kubernetes-models); throws with the paths on a mismatch. */
const validate = (o: KObject) => {
  const key = `${o.apiVersion}/${o.kind}`
  const Model = ({
    "apps/v1/Deployment": Deployment,
    "apps/v1/StatefulSet": StatefulSet,
    "v1/Service": Service,
    "batch/v1/Job": Job,
    "autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler,
    "serving.knative.dev/v1/Service": KnativeService,
    "keda.sh/v1alpha1/ScaledObject": ScaledObject,
  } as Record<string, new(o: unknown) => { validate(): void }>)[key]
  if (Model === undefined) throw new Error(`no schema for ${key}`)
  new Model(o).validate()
}

describe("generated CRDs and RBAC", () => {
  test("deploy/crds and deploy/rbac are what scripts/gen-k8s.ts generates (run it after changing the types)", () => {
    for (const [path, text] of Object.entries(generatedFiles())) {
      expect({ path, text: readFileSync(join(repoRoot, path), "utf8") }).toEqual({ path, text })
    }
  })
})

describe("templates", () => {
  test("k8s-deployment: Deployment + Service valid against the official schemas; resources from the function, then the environment", () => {
    const { objects, selection } = render(spec({ template: "k8s-deployment" }, { resources: { cpuRequest: "250m" } }), {
      imageRegistry: "registry.local:5000",
      resources: { memoryLimit: "256Mi" },
      nodeSelector: { pool: "fn" },
    })
    expect(selection.reason).toContain("requested")
    expect(objects.map((o) => o.kind)).toEqual(["Deployment", "Service"])
    objects.forEach(validate)
    // The check can fail: a Deployment without its selector is refused.
    expect(() => validate({ ...objects[0]!, spec: { ...objects[0]!.spec, selector: undefined } })).toThrow()
    const c = objects[0]!.spec.template.spec.containers[0]
    expect(c.image).toBe("registry.local:5000/shop/cart:1")
    expect(c.resources).toEqual({ requests: { cpu: "250m" }, limits: { memory: "256Mi" } })
    expect(c.env).toContainEqual({ name: "MODE", value: "x" })
    expect(objects[0]!.spec.replicas).toBe(1)
    expect(objects[0]!.spec.template.spec.nodeSelector).toEqual({ pool: "fn" })
    expect(objects[0]!.metadata.ownerReferences).toEqual([{
      apiVersion: "oprc.dev/v1alpha1",
      kind: "DeploymentRecord",
      name: "shop-prod",
      uid: "u-1",
      controller: true,
      blockOwnerDeletion: true,
    }])
  })

  test("a scale range adds an HPA (or a KEDA ScaledObject with a Prometheus trigger when KEDA is installed); the enforcer's count is the floor", () => {
    const s = spec({ template: "k8s-deployment", scale: { "Cart.add": 3 }, scaleUnitGeneration: 1 }, {
      minScale: 1,
      maxScale: 8,
    })
    const hpa = render(s).objects
    expect(hpa.map((o) => o.kind)).toEqual(["Deployment", "Service", "HorizontalPodAutoscaler"])
    hpa.forEach(validate)
    expect(hpa[0]!.spec.replicas).toBeUndefined()
    expect([hpa[2]!.spec.minReplicas, hpa[2]!.spec.maxReplicas]).toEqual([3, 8])
    const keda = render(s, { kedaInstalled: true, prometheusUrl: "http://prom:9090" }).objects
    expect(keda.map((o) => o.kind)).toEqual(["Deployment", "Service", "ScaledObject"])
    keda.forEach(validate)
    expect([keda[2]!.spec.minReplicaCount, keda[2]!.spec.maxReplicaCount, keda[2]!.spec.triggers[0].type]).toEqual([
      3,
      8,
      "prometheus",
    ])
    // A scale set for an older unit generation is ignored.
    expect(render({ ...s, unitGeneration: 2 }).objects[2]!.spec.minReplicas).toBe(1)
  })

  test("knative: min/max scale annotations, containerConcurrency, scale to zero at min 0; chosen for min 0 without a template", () => {
    const { objects, selection } = render(spec({}, { minScale: 0, maxScale: 5, concurrency: 4 }))
    expect(selection.base).toBe("knative")
    expect(selection.reason).toContain("minScale 0")
    objects.forEach(validate)
    expect(objects[0]!.spec.template.metadata.annotations).toEqual({
      "autoscaling.knative.dev/min-scale": "0",
      "autoscaling.knative.dev/max-scale": "5",
    })
    expect(objects[0]!.spec.template.spec.containerConcurrency).toBe(4)
  })

  test("selection: latency-sensitive and steady -> k8s-deployment; batch -> job; unknown template -> the reason; Knative absent -> deployment", () => {
    expect(render(spec({ nfr: { maxLatencyP99Ms: 50 } }, { minScale: 2, maxScale: 20 })).selection.base).toBe(
      "k8s-deployment",
    )
    const job = render(spec({}, { type: "BATCH", minScale: 2 }))
    expect(job.selection.base).toBe("job")
    job.objects.forEach(validate)
    expect(job.objects[0]!.spec.parallelism).toBe(2)
    expect(job.objects[0]!.spec.template.spec.restartPolicy).toBe("Never")
    expect(selectTemplate(spec({ template: "lambda" }), new Map(), {})).toEqual({
      ok: false,
      reason: `unknown template "lambda" (known: knative, k8s-deployment, job)`,
    })
    expect(render(spec({}, { minScale: 0 }), { knativeInstalled: false }).selection.base).toBe("k8s-deployment")
    const custom = selectTemplate(
      spec({ template: "gpu" }),
      new Map([["gpu", { base: "k8s-deployment" as const, annotations: { "gpu": "1" } }]]),
      {},
    )
    expect(custom.ok && custom.base).toBe("k8s-deployment")
  })

  test("ODGM as a StatefulSet on NATS when the environment asks for it", () => {
    const objs = renderOdgm({
      name: "default",
      namespace: "apps",
      uid: "e-1",
      spec: { natsUrl: "nats://nats:4222", odgm: { deploy: true, replicas: 3 } },
    })
    objs.forEach(validate)
    expect(objs[1]!.spec.template.spec.containers[0].args).toContain("nats://nats:4222")
  })
})
