// Type checks the real server makes while decoding JSON into its Go structs, before validation:
// a wrong JSON type is 400 "cannot be handled as a Deployment: json: cannot unmarshal ...".
// Only the fields controllers commonly render are listed; other built-in fields are not typed.
import { badRequest } from "./errors.ts"
import { isObject, type Obj, type ResourceType } from "./types.ts"

type GoType = "int32" | "int64" | "string" | "bool" | "array" | "object" | "map[string]string"

const POD = "spec.template.spec"
const CONTAINER_FIELDS: [string, GoType][] = [
  ["containers", "array"],
  ["containers[*].name", "string"],
  ["containers[*].image", "string"],
  ["containers[*].args", "array"],
  ["containers[*].command", "array"],
  ["containers[*].env", "array"],
  ["containers[*].env[*].name", "string"],
  ["containers[*].env[*].value", "string"],
  ["containers[*].ports", "array"],
  ["containers[*].ports[*].containerPort", "int32"],
]
const pod = (prefix: string): [string, GoType][] => CONTAINER_FIELDS.map(([p, t]) => [`${prefix}.${p}`, t])

const FIELDS: Record<string, [string, GoType][]> = {
  Deployment: [["spec.replicas", "int32"], ["spec.selector", "object"], [
    "spec.template.metadata.labels",
    "map[string]string",
  ], ...pod(POD)],
  StatefulSet: [["spec.replicas", "int32"], ["spec.serviceName", "string"], ["spec.selector", "object"], ...pod(POD)],
  ReplicaSet: [["spec.replicas", "int32"], ...pod(POD)],
  Job: [["spec.completions", "int32"], ["spec.parallelism", "int32"], ["spec.backoffLimit", "int32"], ...pod(POD)],
  Pod: pod("spec"),
  Service: [["spec.ports", "array"], ["spec.ports[*].port", "int32"], ["spec.selector", "map[string]string"], [
    "spec.type",
    "string",
  ]],
  HorizontalPodAutoscaler: [["spec.minReplicas", "int32"], ["spec.maxReplicas", "int32"], [
    "spec.scaleTargetRef",
    "object",
  ], ["spec.scaleTargetRef.name", "string"]],
  Lease: [["spec.holderIdentity", "string"], ["spec.leaseDurationSeconds", "int32"], [
    "spec.leaseTransitions",
    "int32",
  ]],
  ConfigMap: [["data", "map[string]string"]],
  Secret: [["data", "map[string]string"], ["stringData", "map[string]string"]],
}

const jsonType = (v: unknown) =>
  v === null
    ? "null"
    : Array.isArray(v)
    ? "array"
    : typeof v === "number"
    ? "number"
    : typeof v === "object"
    ? "object"
    : typeof v

function fits(v: unknown, t: GoType): boolean {
  switch (t) {
    case "int32":
      return typeof v === "number" && Number.isInteger(v) && Math.abs(v) <= 2 ** 31
    case "int64":
      return typeof v === "number" && Number.isInteger(v)
    case "string":
      return typeof v === "string"
    case "bool":
      return typeof v === "boolean"
    case "array":
      return Array.isArray(v)
    case "object":
      return isObject(v)
    case "map[string]string":
      return isObject(v) && Object.values(v).every((x) => typeof x === "string")
  }
}

/** Values at a path with `[*]` over list items; JSON null counts as absent, as Go decodes it. */
function at(o: unknown, path: string): { path: string; value: unknown }[] {
  let cur: { path: string; value: unknown }[] = [{ path: "", value: o }]
  for (const part of path.split(".")) {
    const many = part.endsWith("[*]")
    const name = many ? part.slice(0, -3) : part
    const next: { path: string; value: unknown }[] = []
    for (const c of cur) {
      if (!isObject(c.value) || c.value[name] === undefined || c.value[name] === null) continue
      const p = c.path ? `${c.path}.${name}` : name
      if (!many) next.push({ path: p, value: c.value[name] })
      else if (Array.isArray(c.value[name])) {
        c.value[name].forEach((v: unknown, i: number) => next.push({ path: `${p}[${i}]`, value: v }))
      }
    }
    cur = next
  }
  return cur
}

export function checkDecodable(rt: ResourceType, o: Obj): void {
  const fields: [string, GoType][] = [
    ["metadata.labels", "map[string]string"],
    ["metadata.annotations", "map[string]string"],
    ["metadata.finalizers", "array"],
    ...(rt.builtin ? (FIELDS[o.kind] ?? []) : []),
  ]
  for (const [path, type] of fields) {
    for (const { path: where, value } of at(o, path)) {
      if (fits(value, type)) continue
      const shown = type === "map[string]string" && isObject(value)
        ? Object.values(value).find((x) => typeof x !== "string")
        : value
      throw badRequest(
        `${rt.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}: json: cannot unmarshal ${
          jsonType(shown)
        } into Go struct field .${where} of type ${
          type === "map[string]string" ? "string" : type === "array" ? "[]" : type
        }`,
      )
    }
  }
}
