// Admission of a write: the body's kind and version, the namespace it goes to, then defaults,
// pruning and validation (422 with every field error).
import { defaultCrd, validateCrd } from "./crd.ts"
import { checkDecodable } from "./decode.ts"
import { applyBuiltinDefaults, defaultJobSelector } from "./defaults.ts"
import { badRequest, type FieldError, forbidden, invalidObject, notFound } from "./errors.ts"
import { admitCustomResource, pruneCustomResource } from "./schema.ts"
import type { Store } from "./store.ts"
import { clone, groupVersion, isObject, type Obj, type ResourceType } from "./types.ts"
import { validateBuiltin, validateMetadata, validateName } from "./validate.ts"

export interface AdmissionOptions {
  /** What to do with fields the schema does not know: drop them (Ignore), also warn (Warn), or refuse (Strict). */
  fieldValidation?: "Ignore" | "Warn" | "Strict" | undefined
  /** Collects `Warning` header texts for the response. */
  warnings?: string[] | undefined
}

export function checkBody(rt: ResourceType, body: unknown, apply = false): Obj {
  if (!isObject(body)) throw badRequest("the request body must be a JSON object")
  const o = clone(body)
  if (apply || o.kind !== undefined || o.apiVersion !== undefined) {
    if (o.kind === undefined || o.kind === "") {
      throw badRequest(`Object 'Kind' is missing in '${JSON.stringify(body).slice(0, 200)}'`)
    }
    if (o.kind !== rt.kind) throw badRequest(`the object provided is unrecognized (kind ${o.kind} is not ${rt.kind})`)
    if (o.apiVersion !== groupVersion(rt)) {
      throw badRequest(
        `the API version in the data (${o.apiVersion}) does not match the expected API version (${groupVersion(rt)})`,
      )
    }
  }
  o.apiVersion = groupVersion(rt)
  o.kind = rt.kind
  if (o.metadata === undefined || o.metadata === null) o.metadata = {}
  if (!isObject(o.metadata)) throw badRequest("metadata must be an object")
  return o
}

export function checkNamespace(store: Store, rt: ResourceType, namespace: string, name: string): void {
  if (!rt.namespaced) return
  const ns = store.get("/namespaces", "", namespace)
  if (!ns) throw notFound("namespaces", "", namespace)
  if (ns.metadata.deletionTimestamp) {
    throw forbidden(
      `${rt.plural}${
        rt.group ? `.${rt.group}` : ""
      } "${name}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`,
      {
        name,
        group: rt.group,
        kind: rt.plural,
        causes: [{
          reason: "NamespaceTerminating",
          message: `namespace ${namespace} is being terminated`,
          field: "metadata.namespace",
        }],
      },
    )
  }
}

// MicroTime fields: the real server decodes them with Go's fixed six-digit layout, before any
// validation, and refuses other forms (JavaScript's toISOString() has three digits) with 400.
const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/
const MICRO_TIME_FIELDS: Record<string, string[][]> = {
  Lease: [["spec", "acquireTime"], ["spec", "renewTime"]],
  Event: [["eventTime"], ["series", "lastObservedTime"]],
}

function checkMicroTimes(rt: ResourceType, o: Obj): void {
  for (const path of MICRO_TIME_FIELDS[o.kind] ?? []) {
    let v: unknown = o
    for (const p of path) v = isObject(v) ? v[p] : undefined
    if (v === undefined || v === null) continue
    if (typeof v !== "string" || !MICRO_TIME.test(v)) {
      const text = typeof v === "string" ? v : JSON.stringify(v)
      const tail = typeof v === "string" ? (v.match(/(\.\d*)?(Z|[+-]\d{2}:\d{2})?$/)?.[0] || v) : text
      throw badRequest(
        `${rt.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}: parsing time "${text}" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "${tail}" as ".000000"`,
      )
    }
  }
}

/** Defaults, pruning and validation; throws 422 with every field error. */
export function admit(rt: ResourceType, o: Obj, old: Obj | undefined, opts: AdmissionOptions = {}): void {
  const errors: FieldError[] = []
  const name = String(o.metadata.name ?? "")
  if (!old) errors.push(...validateName(rt.kind, name))
  errors.push(...validateMetadata(o.metadata))
  checkDecodable(rt, o)
  if (rt.builtin) {
    checkMicroTimes(rt, o)
    applyBuiltinDefaults(o)
    defaultJobSelector(o)
    errors.push(...validateBuiltin(o, old))
    if (rt.kind === "CustomResourceDefinition") {
      defaultCrd(o)
      errors.push(...validateCrd(o, old))
    }
  } else {
    const pruned: string[] = []
    errors.push(...admitCustomResource(o, rt.schema, pruned))
    if (pruned.length > 0 && opts.fieldValidation === "Strict") {
      throw badRequest(`strict decoding error: ${pruned.map((p) => `unknown field "${p}"`).join(", ")}`)
    }
    if (opts.fieldValidation !== "Ignore") { for (const p of pruned) opts.warnings?.push(`unknown field "${p}"`) }
  }
  if (errors.length > 0) throw invalidObject(rt.kind, rt.group, name, errors)
}

/**
 * An applied configuration of a custom resource loses its unknown fields before ownership is
 * computed. It is partial, so defaults and validation wait for the merged object (the applier
 * does not own the defaults).
 */
export function admitConfig(rt: ResourceType, o: Obj, opts: AdmissionOptions): void {
  if (rt.builtin || !rt.schema) return
  const pruned: string[] = []
  pruneCustomResource(o, rt.schema, pruned)
  checkPruned(pruned, opts)
}

function checkPruned(pruned: string[], opts: AdmissionOptions): void {
  if (pruned.length > 0 && opts.fieldValidation === "Strict") {
    throw badRequest(`strict decoding error: ${pruned.map((p) => `unknown field "${p}"`).join(", ")}`)
  }
  if (opts.fieldValidation !== "Ignore") { for (const p of pruned) opts.warnings?.push(`unknown field "${p}"`) }
}
