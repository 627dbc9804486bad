// The built-in kinds the emulator serves, as a real 1.28 server lists them in discovery.
import { EVENTS_V1_CODEC } from "./events.ts"
import type { ResourceType, ScalePaths } from "./types.ts"

const CRUD = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
const REPLICAS: ScalePaths = {
  specReplicasPath: ".spec.replicas",
  statusReplicasPath: ".status.replicas",
  labelSelectorPath: ".status.selector",
}

interface Spec {
  group: string
  version: string
  plural: string
  kind: string
  namespaced?: boolean
  shortNames?: string[]
  categories?: string[]
  status?: boolean
  scale?: ScalePaths
  verbs?: string[]
}

const spec = (s: Spec): ResourceType => ({
  group: s.group,
  version: s.version,
  plural: s.plural,
  singular: s.kind.toLowerCase(),
  kind: s.kind,
  listKind: `${s.kind}List`,
  shortNames: s.shortNames ?? [],
  categories: s.categories ?? [],
  namespaced: s.namespaced ?? true,
  verbs: s.verbs ?? CRUD,
  status: s.status ?? false,
  ...(s.scale ? { scale: s.scale } : {}),
  builtin: true,
})

export const BUILTIN_TYPES: ResourceType[] = [
  spec({
    group: "",
    version: "v1",
    plural: "namespaces",
    kind: "Namespace",
    namespaced: false,
    shortNames: ["ns"],
    status: true,
    verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
  }),
  spec({ group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", shortNames: ["cm"] }),
  spec({ group: "", version: "v1", plural: "secrets", kind: "Secret" }),
  spec({
    group: "",
    version: "v1",
    plural: "services",
    kind: "Service",
    shortNames: ["svc"],
    categories: ["all"],
    status: true,
  }),
  spec({
    group: "",
    version: "v1",
    plural: "pods",
    kind: "Pod",
    shortNames: ["po"],
    categories: ["all"],
    status: true,
  }),
  spec({ group: "", version: "v1", plural: "events", kind: "Event", shortNames: ["ev"] }),
  spec({ group: "", version: "v1", plural: "serviceaccounts", kind: "ServiceAccount", shortNames: ["sa"] }),
  spec({ group: "", version: "v1", plural: "endpoints", kind: "Endpoints", shortNames: ["ep"] }),
  spec({
    group: "apps",
    version: "v1",
    plural: "deployments",
    kind: "Deployment",
    shortNames: ["deploy"],
    categories: ["all"],
    status: true,
    scale: REPLICAS,
  }),
  spec({
    group: "apps",
    version: "v1",
    plural: "statefulsets",
    kind: "StatefulSet",
    shortNames: ["sts"],
    categories: ["all"],
    status: true,
    scale: REPLICAS,
  }),
  spec({
    group: "apps",
    version: "v1",
    plural: "replicasets",
    kind: "ReplicaSet",
    shortNames: ["rs"],
    categories: ["all"],
    status: true,
    scale: REPLICAS,
  }),
  spec({ group: "batch", version: "v1", plural: "jobs", kind: "Job", categories: ["all"], status: true }),
  spec({
    group: "autoscaling",
    version: "v2",
    plural: "horizontalpodautoscalers",
    kind: "HorizontalPodAutoscaler",
    shortNames: ["hpa"],
    categories: ["all"],
    status: true,
  }),
  spec({ group: "coordination.k8s.io", version: "v1", plural: "leases", kind: "Lease" }),
  {
    ...spec({ group: "events.k8s.io", version: "v1", plural: "events", kind: "Event", shortNames: ["ev"] }),
    storage: "/events",
    codec: EVENTS_V1_CODEC,
  },
  spec({
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "clusterroles",
    kind: "ClusterRole",
    namespaced: false,
  }),
  spec({
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "clusterrolebindings",
    kind: "ClusterRoleBinding",
    namespaced: false,
  }),
  spec({ group: "rbac.authorization.k8s.io", version: "v1", plural: "roles", kind: "Role" }),
  spec({ group: "rbac.authorization.k8s.io", version: "v1", plural: "rolebindings", kind: "RoleBinding" }),
  spec({
    group: "apiextensions.k8s.io",
    version: "v1",
    plural: "customresourcedefinitions",
    kind: "CustomResourceDefinition",
    namespaced: false,
    shortNames: ["crd", "crds"],
    status: true,
  }),
]

/** Namespaces a fresh cluster has. */
export const INITIAL_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"]
