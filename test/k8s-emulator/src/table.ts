// `Table` responses (Accept: application/json;as=Table;g=meta.k8s.io;v=v1), as kubectl get asks.
import { evaluate } from "./jsonpath.ts"
import type { Obj, PrinterColumn, ResourceType } from "./types.ts"

/** kubectl's HumanDuration: 45s, 5m12s, 3h4m, 2d3h, 40d. */
export function humanAge(timestamp: string | undefined, now = Date.now()): string {
  if (!timestamp) return "<unknown>"
  const s = Math.max(0, Math.floor((now - Date.parse(timestamp)) / 1000))
  if (s < 120) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`
  if (m < 180) return `${m}m`
  const h = Math.floor(m / 60)
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`
  if (h < 48) return `${h}h`
  const d = Math.floor(h / 24)
  if (h < 192) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`
  if (d < 365 * 2) return `${d}d`
  return `${Math.floor(d / 365)}y`
}

interface Column {
  name: string
  type: string
  format?: string
  description?: string
  priority?: number
  cell: (o: Obj) => unknown
}

const col = (name: string, type: string, cell: (o: Obj) => unknown, format?: string): Column => ({
  name,
  type,
  cell,
  ...(format ? { format } : {}),
})
const NAME = col("Name", "string", (o) => o.metadata.name, "name")
const AGE = col("Age", "string", (o) => humanAge(o.metadata.creationTimestamp))
const n = (v: unknown) => (typeof v === "number" ? v : 0)

const BUILTIN_COLUMNS: Record<string, Column[]> = {
  Namespace: [NAME, col("Status", "string", (o) => o.status?.phase ?? ""), AGE],
  Pod: [
    NAME,
    col(
      "Ready",
      "string",
      (o) =>
        `${(o.status?.containerStatuses ?? []).filter((c: Obj) => c.ready).length}/${
          (o.spec?.containers ?? []).length
        }`,
    ),
    col("Status", "string", (o) => o.status?.phase ?? "Pending"),
    col(
      "Restarts",
      "string",
      (o) => String((o.status?.containerStatuses ?? []).reduce((a: number, c: Obj) => a + n(c.restartCount), 0)),
    ),
    AGE,
  ],
  Deployment: [
    NAME,
    col("Ready", "string", (o) => `${n(o.status?.readyReplicas)}/${n(o.spec?.replicas)}`),
    col("Up-to-date", "integer", (o) => n(o.status?.updatedReplicas)),
    col("Available", "integer", (o) => n(o.status?.availableReplicas)),
    AGE,
  ],
  StatefulSet: [NAME, col("Ready", "string", (o) => `${n(o.status?.readyReplicas)}/${n(o.spec?.replicas)}`), AGE],
  ReplicaSet: [
    NAME,
    col("Desired", "integer", (o) => n(o.spec?.replicas)),
    col("Current", "integer", (o) => n(o.status?.replicas)),
    col("Ready", "integer", (o) => n(o.status?.readyReplicas)),
    AGE,
  ],
  Job: [NAME, col("Completions", "string", (o) => `${n(o.status?.succeeded)}/${n(o.spec?.completions)}`), AGE],
  Service: [
    NAME,
    col("Type", "string", (o) => o.spec?.type ?? ""),
    col("Cluster-IP", "string", (o) => o.spec?.clusterIP ?? ""),
    col("External-IP", "string", () => "<none>"),
    col(
      "Port(s)",
      "string",
      (o) => (o.spec?.ports ?? []).map((p: Obj) => `${p.port}/${p.protocol ?? "TCP"}`).join(",") || "<none>",
    ),
    AGE,
  ],
  ConfigMap: [
    NAME,
    col("Data", "integer", (o) => Object.keys({ ...(o.data ?? {}), ...(o.binaryData ?? {}) }).length),
    AGE,
  ],
  Secret: [
    NAME,
    col("Type", "string", (o) => o.type ?? ""),
    col("Data", "integer", (o) => Object.keys(o.data ?? {}).length),
    AGE,
  ],
  HorizontalPodAutoscaler: [
    NAME,
    col("Reference", "string", (o) => `${o.spec?.scaleTargetRef?.kind ?? ""}/${o.spec?.scaleTargetRef?.name ?? ""}`),
    col("MinPods", "integer", (o) => n(o.spec?.minReplicas ?? 1)),
    col("MaxPods", "integer", (o) => n(o.spec?.maxReplicas)),
    col("Replicas", "integer", (o) => n(o.status?.currentReplicas)),
    AGE,
  ],
  Lease: [NAME, col("Holder", "string", (o) => o.spec?.holderIdentity ?? ""), AGE],
  CustomResourceDefinition: [NAME, col("Created At", "date", (o) => o.metadata.creationTimestamp)],
  Event: [
    col("Last Seen", "string", (o) => humanAge(o.lastTimestamp ?? o.eventTime ?? o.metadata.creationTimestamp)),
    col("Type", "string", (o) => o.type ?? ""),
    col("Reason", "string", (o) => o.reason ?? ""),
    col("Object", "string", (o) => {
      const ref = o.involvedObject ?? o.regarding ?? {}
      return `${String(ref.kind ?? "").toLowerCase()}/${ref.name ?? ""}`
    }),
    col("Message", "string", (o) => o.message ?? o.note ?? ""),
  ],
}

function printerColumn(c: PrinterColumn): Column {
  return {
    name: c.name,
    type: c.type,
    ...(c.format ? { format: c.format } : {}),
    ...(c.description ? { description: c.description } : {}),
    ...(c.priority ? { priority: c.priority } : {}),
    cell: (o) => {
      const values = evaluate(c.jsonPath, o)
      if (values.length === 0) return null
      const v = values[0]
      if (c.type === "date") return typeof v === "string" ? humanAge(v) : null
      if (c.type === "integer" || c.type === "number") return typeof v === "number" ? v : null
      if (c.type === "boolean") return typeof v === "boolean" ? v : null
      return typeof v === "object" ? JSON.stringify(v) : String(v)
    },
  }
}

function columnsFor(rt: ResourceType): Column[] {
  if (!rt.builtin) {
    const custom = rt.printerColumns ?? []
    return custom.length > 0
      ? [NAME, ...custom.map(printerColumn)]
      : [NAME, col("Age", "date", (o) => humanAge(o.metadata.creationTimestamp))]
  }
  return BUILTIN_COLUMNS[rt.kind] ?? [NAME, AGE]
}

export type IncludeObject = "None" | "Metadata" | "Object"

export interface TableOptions {
  apiVersion: string
  includeObject: IncludeObject
  noHeaders?: boolean
}

function rowObject(o: Obj, include: IncludeObject, apiVersion: string): Obj | undefined {
  if (include === "None") return undefined
  if (include === "Object") return o
  return { kind: "PartialObjectMetadata", apiVersion, metadata: o.metadata }
}

export function toTable(rt: ResourceType, items: Obj[], listMeta: Obj, opts: TableOptions): Obj {
  const columns = columnsFor(rt)
  return {
    kind: "Table",
    apiVersion: opts.apiVersion,
    metadata: listMeta,
    columnDefinitions: opts.noHeaders
      ? null
      : columns.map((c) => ({
        name: c.name,
        type: c.type,
        format: c.format ?? "",
        description: c.description ?? (c.name === "Name" ? "Name must be unique within a namespace." : ""),
        priority: c.priority ?? 0,
      })),
    rows: items.map((o) => {
      const obj = rowObject(o, opts.includeObject, opts.apiVersion)
      return { cells: columns.map((c) => c.cell(o)), ...(obj ? { object: obj } : {}) }
    }),
  }
}

/** The Table version the Accept header asks for, or undefined when it wants plain JSON. */
export function wantsTable(accept: string | undefined): string | undefined {
  if (!accept) return undefined
  for (const part of accept.split(",")) {
    const params = Object.fromEntries(
      part.split(";").slice(1).map((p) => p.trim().split("=") as [string, string]),
    )
    if (params.as === "Table" && (params.g ?? "meta.k8s.io") === "meta.k8s.io") return `meta.k8s.io/${params.v ?? "v1"}`
    if (part.trim().startsWith("application/json") && !params.as) return undefined
  }
  return undefined
}
