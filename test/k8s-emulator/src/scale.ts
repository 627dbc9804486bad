// The /scale subresource: an autoscaling/v1 Scale view of an object's replica paths (native for
// Deployments, StatefulSets and ReplicaSets, from the CRD's scale paths for custom resources).
import { notFound } from "./errors.ts"
import { selectorString } from "./selectors.ts"
import { clone, isObject, type Obj, type ResourceType } from "./types.ts"

const steps = (path: string) => path.replace(/^\./, "").split(".").filter((s) => s !== "")

export function getPath(o: Obj, path: string): unknown {
  let cur: unknown = o
  for (const s of steps(path)) cur = isObject(cur) ? cur[s] : undefined
  return cur
}

export function setPath(o: Obj, path: string, value: unknown): void {
  const parts = steps(path)
  let cur = o
  for (const s of parts.slice(0, -1)) {
    if (!isObject(cur[s])) cur[s] = {}
    cur = cur[s]
  }
  cur[parts[parts.length - 1]!] = value
}

export function toScale(rt: ResourceType, o: Obj): Obj {
  if (!rt.scale) throw notFound(`${rt.plural}/scale`, rt.group, o.metadata.name)
  const selector = rt.builtin
    ? selectorString(o.spec?.selector)
    : rt.scale.labelSelectorPath
    ? getPath(o, rt.scale.labelSelectorPath)
    : undefined
  return {
    kind: "Scale",
    apiVersion: "autoscaling/v1",
    metadata: {
      name: o.metadata.name,
      ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
      uid: o.metadata.uid,
      resourceVersion: o.metadata.resourceVersion,
      creationTimestamp: o.metadata.creationTimestamp,
    },
    spec: { replicas: Number(getPath(o, rt.scale.specReplicasPath) ?? 0) },
    status: {
      replicas: Number(getPath(o, rt.scale.statusReplicasPath) ?? 0),
      ...(typeof selector === "string" && selector !== "" ? { selector } : {}),
    },
  }
}

export function fromScale(rt: ResourceType, o: Obj, replicas: number): Obj {
  if (!rt.scale) throw notFound(`${rt.plural}/scale`, rt.group, o.metadata.name)
  const next = clone(o)
  setPath(next, rt.scale.specReplicasPath, replicas)
  return next
}
