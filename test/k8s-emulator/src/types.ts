// Shared shapes of the emulator. Kubernetes objects are free-form JSON, so they are typed loosely
// here and checked by the code that reads each field.
// biome-ignore lint: JSON documents are untyped by nature
export type Obj = Record<string, any>

export interface ScalePaths {
  specReplicasPath: string
  statusReplicasPath: string
  labelSelectorPath?: string
}

export interface PrinterColumn {
  name: string
  type: string
  jsonPath: string
  description?: string
  format?: string
  priority?: number
}

/** One served resource (a group, version and plural), built in or from a CRD. */
export interface ResourceType {
  group: string
  version: string
  /** Versions that share this resource's storage (a CRD's served versions); built-ins have one. */
  plural: string
  singular: string
  kind: string
  listKind: string
  shortNames: string[]
  categories: string[]
  namespaced: boolean
  verbs: string[]
  status: boolean
  scale?: ScalePaths
  /** Built-in kinds accept strategic-merge patches; custom resources get 415. */
  builtin: boolean
  /** Structural schema of a custom resource version (openAPIV3Schema). */
  schema?: Obj
  printerColumns?: PrinterColumn[]
  /** Name of the CRD that serves this resource. */
  crd?: string
  /** Storage shared with another resource (events.k8s.io Events live with core Events). */
  storage?: string
  /** Conversion between this resource's form and the stored form. */
  codec?: Codec
}

export interface Codec {
  /** Stored form to this resource's form. */
  decode(o: Obj): Obj
  /** This resource's form to the stored form. */
  encode(o: Obj): Obj
}

export const groupVersion = (rt: { group: string; version: string }) =>
  rt.group === "" ? rt.version : `${rt.group}/${rt.version}`

/** Storage is per group and resource: every version of a CRD reads and writes the same objects. */
export const storageKey = (rt: { group: string; plural: string; storage?: string | undefined }) =>
  rt.storage ?? `${rt.group}/${rt.plural}`

/** A stored object as a client of `rt` sees it: converted, with rt's apiVersion and kind. */
export function served(rt: ResourceType, o: Obj): Obj {
  const out = rt.codec ? rt.codec.decode(o) : { ...o }
  out.apiVersion = groupVersion(rt)
  out.kind = rt.kind
  return out
}

export const qualifiedResource = (rt: { group: string; plural: string }) =>
  rt.group === "" ? rt.plural : `${rt.plural}.${rt.group}`

export const clone = <T>(v: T): T => (v === undefined ? v : structuredClone(v))

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a)) {
    const bb = b as unknown[]
    return a.length === bb.length && a.every((v, i) => deepEqual(v, bb[i]))
  }
  const ao = a as Obj
  const bo = b as Obj
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined)
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined)
  return ak.length === bk.length && ak.every((k) => deepEqual(ao[k], bo[k]))
}

export const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v)

/** RFC 3339 with second precision, as the API server writes timestamps. */
export const nowTimestamp = () => new Date().toISOString().replace(/\.\d{3}Z$/, "Z")
