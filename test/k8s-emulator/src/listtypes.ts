// How lists of built-in kinds merge: by key (containers by name), as sets (finalizers), or whole
// (atomic). Strategic merge patch and server-side apply both read this; custom resources take it
// from their schema's x-kubernetes-list-type instead.
import { isObject, type Obj } from "./types.ts"

export type ListType = { type: "map"; keys: readonly string[] } | { type: "set" } | { type: "atomic" }

const BY_NAME: ListType = { type: "map", keys: ["name"] }

const BUILTIN_LISTS: Record<string, ListType> = {
  containers: BY_NAME,
  initContainers: BY_NAME,
  ephemeralContainers: BY_NAME,
  env: BY_NAME,
  volumes: BY_NAME,
  imagePullSecrets: BY_NAME,
  resourceClaims: BY_NAME,
  volumeMounts: { type: "map", keys: ["mountPath"] },
  volumeDevices: { type: "map", keys: ["devicePath"] },
  conditions: { type: "map", keys: ["type"] },
  ownerReferences: { type: "map", keys: ["uid"] },
  hostAliases: { type: "map", keys: ["ip"] },
  topologySpreadConstraints: { type: "map", keys: ["topologyKey"] },
  finalizers: { type: "set" },
}

/** `path` holds field names from the root, without list indices. */
export function builtinListType(path: readonly string[]): ListType {
  const field = path[path.length - 1] ?? ""
  if (field === "ports") {
    // Container ports merge by containerPort, Service ports by port.
    return path.includes("containers") || path.includes("initContainers")
      ? { type: "map", keys: ["containerPort"] }
      : { type: "map", keys: ["port"] }
  }
  return BUILTIN_LISTS[field] ?? { type: "atomic" }
}

/** The list type a CRD schema declares at a list node. */
export function schemaListType(schema: Obj | undefined): ListType {
  const t = schema?.["x-kubernetes-list-type"]
  if (t === "map") return { type: "map", keys: (schema?.["x-kubernetes-list-map-keys"] as string[]) ?? [] }
  if (t === "set") return { type: "set" }
  return { type: "atomic" }
}

/** Walks a structural schema one field or list item down. */
export function childSchema(schema: Obj | undefined, field: string | number): Obj | undefined {
  if (!schema) return undefined
  if (typeof field === "number") return isObject(schema.items) ? schema.items : undefined
  if (isObject(schema.properties?.[field])) return schema.properties[field]
  if (isObject(schema.additionalProperties)) return schema.additionalProperties
  return undefined
}

export const keyOf = (item: unknown, keys: readonly string[]): string | undefined => {
  if (!isObject(item)) return undefined
  const parts: Obj = {}
  for (const k of keys) {
    if (item[k] === undefined) return undefined
    parts[k] = item[k]
  }
  return JSON.stringify(parts)
}
