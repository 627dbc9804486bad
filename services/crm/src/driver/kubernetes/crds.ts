import { Schema } from "effect"

/**
 * The Kubernetes driver's custom resources, as Effect Schema types: the controller decodes what
 * it reads with them, and scripts/gen-k8s.ts turns them into the CRDs' structural openAPIV3Schema
 * (deploy/crds), so the cluster validates exactly what the code expects.
 */

export const GROUP = "oprc.dev"
export const VERSION = "v1alpha1"
export const API_VERSION = `${GROUP}/${VERSION}`

const Int = Schema.Number.check(Schema.isInt())
const NonNegative = Int.check(Schema.isGreaterThanOrEqualTo(0))
const opt = Schema.optionalKey
const Str = Schema.String
const StringMap = Schema.Record(Schema.String, Schema.String)

const Resources = Schema.Struct({
  cpuRequest: opt(Str),
  memoryRequest: opt(Str),
  cpuLimit: opt(Str),
  memoryLimit: opt(Str),
}).annotate({ description: "requests and limits; empty fields take the EnvironmentConfig's defaults" })

export const RecordFunction = Schema.Struct({
  key: Str.annotate({ description: "function key in its package, e.g. Counter.fn" }),
  type: opt(Schema.Literals(["CUSTOM", "BUILTIN", "MACRO", "LOGICAL", "BATCH"])),
  image: opt(Str.annotate({ description: "container image (relative names get the environment's registry)" })),
  port: opt(NonNegative.annotate({ description: "container port; 0 = 8080" })),
  concurrency: opt(
    NonNegative.annotate({
      description: "invocations in flight per replica (Knative containerConcurrency); 0 = unlimited",
    }),
  ),
  minScale: opt(NonNegative),
  maxScale: opt(NonNegative.annotate({ description: "0 = no upper bound" })),
  resources: opt(Resources),
  config: opt(StringMap.annotate({ description: "environment variables" })),
})
export type RecordFunction = typeof RecordFunction.Type

const RecordBinding = Schema.Struct({
  name: Str,
  function: Str,
  access: opt(Schema.Literals(["PUBLIC", "INTERNAL", "PRIVATE"])),
  stateless: opt(Schema.Boolean),
})

const RecordTrigger = Schema.Struct({
  event: Schema.Literals(["DATA_CREATE", "DATA_UPDATE", "DATA_DELETE", "FUNC_COMPLETE", "FUNC_ERROR"]),
  source: Str,
  target: Schema.Struct({ cls: opt(Str), function: Str, objectId: opt(Str), headers: opt(StringMap) }),
})

export const DeploymentRecordSpec = Schema.Struct({
  unitId: Str.annotate({ description: "the CRM's deployment unit id" }),
  deploymentKey: Str,
  packageName: Str,
  packageVersion: opt(Str),
  unitGeneration: opt(NonNegative.annotate({ description: "the PM's generation of the unit" })),
  class: Schema.Struct({
    key: Str,
    consistency: opt(Schema.Literals(["EVENTUAL", "READ_YOUR_WRITES", "BOUNDED_STALENESS", "STRONG"])),
    bindings: opt(Schema.Array(RecordBinding)),
  }),
  functions: opt(Schema.Array(RecordFunction)),
  odgm: opt(Schema.Struct({
    partitionCount: opt(Int.check(Schema.isBetween({ minimum: 1, maximum: 1024 }))),
    replicaCount: opt(NonNegative),
    triggers: opt(Schema.Array(RecordTrigger)),
  })),
  nfr: opt(Schema.Struct({
    minThroughputRps: opt(Schema.Finite),
    maxLatencyP99Ms: opt(Schema.Finite),
    availability: opt(Schema.Finite),
  })),
  enforcement: opt(Schema.Literals(["OFF", "OBSERVE", "ENFORCE"])),
  template: opt(
    Str.annotate({
      description: "knative, k8s-deployment, job, a DeploymentTemplate's name, or empty: chosen from the NFRs",
    }),
  ),
  scale: opt(
    Schema.Record(Str, NonNegative).annotate({
      description: "function key -> replicas set by the NFR enforcer (its own field manager), clamped to the bounds",
    }),
  ),
  scaleUnitGeneration: opt(
    NonNegative.annotate({ description: "the unitGeneration the scale map was set for; ignored for any other" }),
  ),
  environment: opt(Str.annotate({ description: "EnvironmentConfig name (default: default)" })),
})
export type DeploymentRecordSpec = typeof DeploymentRecordSpec.Type

export const Condition = Schema.Struct({
  type: Str,
  status: Schema.Literals(["True", "False", "Unknown"]),
  reason: opt(Str),
  message: opt(Str),
  observedGeneration: opt(NonNegative),
  lastTransitionTime: opt(Str),
})
export type Condition = typeof Condition.Type

export const DeploymentRecordStatus = Schema.Struct({
  observedGeneration: opt(NonNegative),
  phase: opt(Str),
  template: opt(Str.annotate({ description: "the template in use" })),
  templateReason: opt(Str.annotate({ description: "why that template was chosen" })),
  children: opt(
    Schema.Array(Str).annotate({ description: "the objects the controller applied: apiVersion/kind/name" }),
  ),
  conditions: opt(Schema.Array(Condition)),
  functions: opt(Schema.Array(Schema.Struct({
    function: Str,
    desiredReplicas: NonNegative,
    readyReplicas: NonNegative,
    url: opt(Str),
    message: opt(Str),
  }))),
})
export type DeploymentRecordStatus = typeof DeploymentRecordStatus.Type

export const DeploymentTemplateSpec = Schema.Struct({
  base: Schema.Literals(["knative", "k8s-deployment", "job"]).annotate({
    description: "the built-in renderer this template configures",
  }),
  description: opt(Str),
  selection: opt(Schema.Struct({
    priority: opt(Int.annotate({ description: "added to the score when the criteria match" })),
    functionTypes: opt(Schema.Array(Str)),
    minScaleZero: opt(Schema.Boolean),
    latencySensitive: opt(Schema.Boolean),
  })),
  annotations: opt(StringMap.annotate({ description: "added to every rendered workload's pod template" })),
  labels: opt(StringMap),
})
export type DeploymentTemplateSpec = typeof DeploymentTemplateSpec.Type

export const EnvironmentConfigSpec = Schema.Struct({
  imageRegistry: opt(Str),
  resources: opt(Resources),
  nodeSelector: opt(StringMap),
  odgmUrl: opt(Str.annotate({ description: "the cluster's ODGM, where collections are applied" })),
  natsUrl: opt(Str),
  prometheusUrl: opt(Str),
  kedaInstalled: opt(Schema.Boolean.annotate({ description: "render KEDA ScaledObjects instead of HPAs" })),
  knativeInstalled: opt(Schema.Boolean),
  odgm: opt(Schema.Struct({
    deploy: opt(Schema.Boolean.annotate({ description: "render ODGM itself as a StatefulSet on NATS" })),
    image: opt(Str),
    replicas: opt(NonNegative),
  })),
})
export type EnvironmentConfigSpec = typeof EnvironmentConfigSpec.Type

interface CrdDef {
  readonly kind: string
  readonly plural: string
  readonly singular: string
  readonly shortNames: ReadonlyArray<string>
  readonly spec: Schema.Top
  readonly status?: Schema.Top
  readonly columns: ReadonlyArray<{ name: string; type: string; jsonPath: string; description?: string }>
}

const crdDefs: ReadonlyArray<CrdDef> = [
  {
    kind: "DeploymentRecord",
    plural: "deploymentrecords",
    singular: "deploymentrecord",
    shortNames: ["drec"],
    spec: DeploymentRecordSpec,
    status: DeploymentRecordStatus,
    columns: [
      { name: "Class", type: "string", jsonPath: ".spec.class.key" },
      { name: "Template", type: "string", jsonPath: ".status.template" },
      { name: "Phase", type: "string", jsonPath: ".status.phase" },
      { name: "Available", type: "string", jsonPath: `.status.conditions[?(@.type=="Available")].status` },
      { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
    ],
  },
  {
    kind: "DeploymentTemplate",
    plural: "deploymenttemplates",
    singular: "deploymenttemplate",
    shortNames: ["dtpl"],
    spec: DeploymentTemplateSpec,
    columns: [{ name: "Base", type: "string", jsonPath: ".spec.base" }, {
      name: "Age",
      type: "date",
      jsonPath: ".metadata.creationTimestamp",
    }],
  },
  {
    kind: "EnvironmentConfig",
    plural: "environmentconfigs",
    singular: "environmentconfig",
    shortNames: ["envcfg"],
    spec: EnvironmentConfigSpec,
    columns: [
      { name: "Registry", type: "string", jsonPath: ".spec.imageRegistry" },
      { name: "KEDA", type: "boolean", jsonPath: ".spec.kedaInstalled" },
      { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
    ],
  },
]

/** A JSON Schema from Effect made structural (Kubernetes' rules): no refs, no additionalProperties beside properties, no ±2^53 bounds. */
const structural = (node: unknown, defs: Record<string, unknown>): unknown => {
  if (Array.isArray(node)) return node.map((n) => structural(n, defs))
  if (typeof node !== "object" || node === null) return node
  const o = node as Record<string, unknown>
  if (typeof o.$ref === "string") return structural(defs[o.$ref.split("/").pop()!], defs)
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(o)) {
    if (k === "additionalProperties" && (v === true || v === false)) continue
    if ((k === "minimum" || k === "maximum") && Math.abs(v as number) >= Number.MAX_SAFE_INTEGER) continue
    if (k === "$schema" || k === "$defs") continue
    out[k] = structural(v, defs)
  }
  return out
}

const openApiOf = (schema: Schema.Top): Record<string, unknown> => {
  const doc = Schema.toJsonSchemaDocument(schema as never)
  return structural(doc.schema, doc.definitions as Record<string, unknown>) as Record<string, unknown>
}

/** The CustomResourceDefinition objects of the driver's resources. */
export const crdManifests = (): ReadonlyArray<Record<string, unknown>> =>
  crdDefs.map((d) => ({
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${d.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      scope: "Namespaced",
      names: {
        kind: d.kind,
        plural: d.plural,
        singular: d.singular,
        listKind: `${d.kind}List`,
        shortNames: [...d.shortNames],
        categories: ["oprc"],
      },
      versions: [{
        name: VERSION,
        served: true,
        storage: true,
        ...(d.status === undefined ? {} : { subresources: { status: {} } }),
        additionalPrinterColumns: d.columns,
        schema: {
          openAPIV3Schema: {
            type: "object",
            properties: {
              spec: openApiOf(d.spec),
              ...(d.status === undefined ? {} : { status: openApiOf(d.status) }),
            },
            required: ["spec"],
          },
        },
      }],
    },
  }))
