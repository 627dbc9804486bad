// The API's verbs (get, list, create, update, patch, delete, deletecollection) on any served
// resource, shared by the HTTP front and the emulator's own controllers.
import { randomUUID } from "node:crypto"
import { parse as parseYaml } from "yaml"
import { recordUpdate, serverSideApply } from "./apply.ts"
import { type AdmissionOptions, admit, admitConfig, checkBody, checkNamespace } from "./admission.ts"
import { GENERATION_KINDS } from "./defaults.ts"
import { deleteObject, pendingFinalizers } from "./deletion.ts"
import {
  alreadyExists,
  ApiError,
  badRequest,
  conflict,
  fieldError,
  invalidObject,
  methodNotAllowed,
  MODIFIED_MESSAGE,
  notFound,
  unsupportedMediaType,
} from "./errors.ts"
import type { Shape } from "./fieldset.ts"
import { applyJsonPatch, mergePatch } from "./patch.ts"
import type { Registry } from "./registry.ts"
import { fromScale, toScale } from "./scale.ts"
import type { Store } from "./store.ts"
import { strategicMerge } from "./strategic.ts"
import {
  clone,
  deepEqual,
  groupVersion,
  isObject,
  nowTimestamp,
  type Obj,
  type ResourceType,
  served,
  storageKey,
} from "./types.ts"

export interface Target {
  rt: ResourceType
  /** "" for cluster-scoped resources. */
  namespace: string
  name: string
  subresource?: "status" | "scale" | undefined
}

export interface WriteOptions extends AdmissionOptions {
  dryRun?: boolean
  fieldManager?: string | undefined
  force?: boolean
}

export type PatchType = "json" | "merge" | "strategic" | "apply"

export const PATCH_TYPES: Record<string, PatchType> = {
  "application/json-patch+json": "json",
  "application/merge-patch+json": "merge",
  "application/strategic-merge-patch+json": "strategic",
  "application/apply-patch+yaml": "apply",
}

const shapeOf = (rt: ResourceType): Shape => ({ builtin: rt.builtin, ...(rt.schema ? { schema: rt.schema } : {}) })
const NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"

export class Api {
  /** Set by the CRD controller: CRDs being deleted refuse new custom resources. */
  terminatingCrds = new Set<string>()

  constructor(
    readonly store: Store,
    readonly registry: Registry,
  ) {}

  /** The object as a client of `rt`'s version sees it. */
  view(rt: ResourceType, o: Obj): Obj {
    return served(rt, clone(o))
  }

  find(rt: ResourceType, namespace: string, name: string): Obj | undefined {
    return this.store.get(storageKey(rt), namespace, name)
  }

  get(t: Target): Obj {
    const o = this.find(t.rt, t.namespace, t.name)
    if (!o) throw notFound(t.rt.plural, t.rt.group, t.name)
    if (t.subresource === "scale") return toScale(t.rt, o)
    return this.view(t.rt, o)
  }

  create(t: Omit<Target, "name">, body: unknown, opts: WriteOptions, appliedManagedFields?: Obj[]): Obj {
    const { rt } = t
    const o = toStorage(rt, checkBody(rt, body))
    if (o.metadata.namespace !== undefined && rt.namespaced && o.metadata.namespace !== t.namespace) {
      throw badRequest("the namespace of the provided object does not match the namespace sent on the request")
    }
    if (rt.crd && this.terminatingCrds.has(rt.crd)) {
      throw methodNotAllowed(`create not allowed while custom resource definition is terminating`)
    }
    if (!o.metadata.name) {
      if (!o.metadata.generateName) {
        throw invalidObject(rt.kind, rt.group, "", [
          fieldError("FieldValueRequired", "metadata.name", "Required value: name or generateName is required"),
        ])
      }
      o.metadata.name = o.metadata.generateName +
        Array.from({ length: 5 }, () => NAME_CHARS[Math.floor(Math.random() * NAME_CHARS.length)]).join("")
    }
    const name = String(o.metadata.name)
    // The real storage layer refuses this with a reason-less 500; it catches copied objects.
    if (/^[1-9][0-9]*$/.test(String(o.metadata.resourceVersion ?? ""))) {
      throw new ApiError(500, "", "resourceVersion should not be set on objects to be created")
    }
    checkNamespace(this.store, rt, t.namespace, name)
    if (this.find(rt, t.namespace, name)) throw alreadyExists(rt.plural, rt.group, name)
    if (rt.namespaced) o.metadata.namespace = t.namespace
    else delete o.metadata.namespace
    for (
      const k of [
        "uid",
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
      ]
    ) delete o.metadata[k]
    o.metadata.uid = randomUUID()
    o.metadata.creationTimestamp = nowTimestamp()
    // Status is the server's: dropped on create (a Namespace then defaults to phase Active).
    if (rt.status) delete o.status
    if (this.tracksGeneration(rt)) o.metadata.generation = 1
    else delete o.metadata.generation
    admit(rt, o, undefined, opts)
    if (appliedManagedFields) o.metadata.managedFields = appliedManagedFields
    else recordUpdate(undefined, o, shapeOf(rt), this.manager(opts), groupVersion(rt), undefined)
    if (opts.dryRun) return this.view(rt, o)
    return this.view(rt, this.store.commit(storageKey(rt), t.namespace, name, o, "ADDED"))
  }

  update(t: Target, body: unknown, opts: WriteOptions): Obj {
    const { rt } = t
    const old = this.find(rt, t.namespace, t.name)
    if (!old) throw notFound(rt.plural, rt.group, t.name)
    if (t.subresource === "scale") return this.writeScale(t, old, body, opts)
    const o = toStorage(rt, checkBody(rt, body))
    if (o.metadata.name !== undefined && o.metadata.name !== t.name) {
      throw badRequest(`the name of the object (${o.metadata.name}) does not match the name on the URL (${t.name})`)
    }
    const rv = o.metadata.resourceVersion
    if (rv !== undefined && rv !== "" && rv !== old.metadata.resourceVersion) {
      throw conflict(rt.plural, rt.group, t.name, MODIFIED_MESSAGE)
    }
    return this.write(t, old, o, opts, false)
  }

  patch(t: Target, type: PatchType | undefined, contentType: string, body: string, opts: WriteOptions): Obj {
    const { rt } = t
    if (!type) throw unsupportedMediaType(contentType)
    if (type === "strategic" && !rt.builtin) throw unsupportedMediaType(contentType)
    if (type === "apply") return this.apply(t, body, opts)
    const old = this.find(rt, t.namespace, t.name)
    if (!old) throw notFound(rt.plural, rt.group, t.name)
    let doc: unknown
    try {
      doc = JSON.parse(body)
    } catch (e) {
      throw badRequest(`error decoding patch: ${(e as Error).message}`)
    }
    const current = t.subresource === "scale" ? toScale(rt, old) : this.view(rt, old)
    const patched = type === "json"
      ? applyJsonPatch(current, doc)
      : type === "merge"
      ? (mergePatch(current, doc) as Obj)
      : strategicMerge(current, doc)
    if (t.subresource === "scale") return this.writeScale(t, old, patched, opts)
    if (!isObject(patched.metadata)) throw badRequest("patched object has no metadata")
    const rv = isObject(doc) ? doc.metadata?.resourceVersion : undefined
    if (rv !== undefined && rv !== old.metadata.resourceVersion) {
      throw conflict(rt.plural, rt.group, t.name, MODIFIED_MESSAGE)
    }
    if (patched.metadata.name !== t.name) {
      throw badRequest(`metadata.name: Invalid value: ${JSON.stringify(patched.metadata.name)}: field is immutable`)
    }
    return this.write(t, old, toStorage(rt, checkBody(rt, patched)), opts, false)
  }

  private apply(t: Target, body: string, opts: WriteOptions): Obj {
    const { rt } = t
    if (!opts.fieldManager) {
      throw invalidObject("PatchOptions", "meta.k8s.io", "", [
        fieldError("FieldValueRequired", "fieldManager", "Required value: is required for apply patch"),
      ])
    }
    let config: unknown
    try {
      config = parseYaml(body)
    } catch (e) {
      throw badRequest(`error decoding YAML: ${(e as Error).message}`)
    }
    const o = checkBody(rt, config, true)
    if (o.metadata.name !== undefined && o.metadata.name !== t.name) {
      throw badRequest(`the name of the object (${o.metadata.name}) does not match the name on the URL (${t.name})`)
    }
    o.metadata.name = t.name
    if (rt.namespaced) {
      if (o.metadata.namespace !== undefined && o.metadata.namespace !== t.namespace) {
        throw badRequest("the namespace of the provided object does not match the namespace sent on the request")
      }
      o.metadata.namespace = t.namespace
    }
    const old = this.find(rt, t.namespace, t.name)
    if (
      old && o.metadata.resourceVersion !== undefined && o.metadata.resourceVersion !== old.metadata.resourceVersion
    ) {
      throw conflict(rt.plural, rt.group, t.name, MODIFIED_MESSAGE)
    }
    if (!old && t.subresource) throw notFound(rt.plural, rt.group, t.name)
    // The applied config is admitted like any object, so defaults and pruning apply to it too.
    admitConfig(rt, o, opts)
    const merged = serverSideApply({
      live: old ? this.view(rt, old) : undefined,
      config: o,
      shape: shapeOf(rt),
      manager: opts.fieldManager,
      apiVersion: groupVersion(rt),
      force: opts.force === true,
      subresource: t.subresource,
    })
    // An apply is an upsert; the applier, not a create, owns the fields.
    if (!old) return this.create(t, merged, opts, merged.metadata.managedFields)
    return this.write(t, old, toStorage(rt, merged), opts, true)
  }

  /** The common tail of update, patch and apply: preserve server fields, admit, commit. */
  private write(t: Target, old: Obj, next: Obj, opts: WriteOptions, applied: boolean): Obj {
    const { rt } = t
    const o = clone(next)
    o.metadata ??= {}
    if (t.subresource === "status") {
      const status = o.status
      Object.assign(o, clone(old))
      for (const k of Object.keys(o)) if (!(k in old)) delete o[k]
      if (status === undefined) delete o.status
      else o.status = status
      if (applied) o.metadata.managedFields = next.metadata.managedFields
    } else {
      if (rt.status && o.kind !== "Namespace") {
        if (old.status === undefined) delete o.status
        else o.status = clone(old.status)
      }
      if (o.kind === "Namespace") o.status = clone(old.status)
    }
    for (const k of ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"]) {
      if (old.metadata[k] === undefined) delete o.metadata[k]
      else o.metadata[k] = old.metadata[k]
    }
    o.metadata.name = old.metadata.name
    if (rt.namespaced) o.metadata.namespace = old.metadata.namespace
    if (!applied) o.metadata.managedFields = old.metadata.managedFields
    if (old.metadata.deletionTimestamp) {
      const added = ((o.metadata.finalizers ?? []) as string[]).filter((f) =>
        !((old.metadata.finalizers ?? []) as string[]).includes(f)
      )
      if (added.length > 0) {
        throw invalidObject(rt.kind, rt.group, t.name, [
          fieldError(
            "FieldValueForbidden",
            "metadata.finalizers",
            `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{${
              added.map((f) => JSON.stringify(f)).join(", ")
            }}`,
          ),
        ])
      }
    }
    admit(rt, o, old, opts)
    if (this.tracksGeneration(rt) && t.subresource === undefined && specChanged(rt, old, o)) {
      o.metadata.generation = (old.metadata.generation ?? 0) + 1
    }
    if (!applied) recordUpdate(old, o, shapeOf(rt), this.manager(opts), groupVersion(rt), t.subresource)
    o.metadata.resourceVersion = old.metadata.resourceVersion
    if (sameIgnoringTimes(old, o)) return this.view(rt, old)
    if (opts.dryRun) return this.view(rt, o)
    if (o.metadata.deletionTimestamp && pendingFinalizers(o).length === 0) {
      return this.view(rt, this.store.commit(storageKey(rt), t.namespace, t.name, o, "DELETED"))
    }
    return this.view(rt, this.store.commit(storageKey(rt), t.namespace, t.name, o, "MODIFIED"))
  }

  private writeScale(t: Target, old: Obj, body: unknown, opts: WriteOptions): Obj {
    const { rt } = t
    if (!isObject(body)) throw badRequest("Scale body must be an object")
    const rv = body.metadata?.resourceVersion
    if (rv !== undefined && rv !== "" && rv !== old.metadata.resourceVersion) {
      throw conflict(rt.plural, rt.group, t.name, MODIFIED_MESSAGE)
    }
    const replicas = body.spec?.replicas
    if (typeof replicas !== "number" || !Number.isInteger(replicas) || replicas < 0) {
      throw invalidObject("Scale", "autoscaling", t.name, [
        fieldError(
          "FieldValueInvalid",
          "spec.replicas",
          `Invalid value: ${JSON.stringify(replicas ?? null)}: must be greater than or equal to 0`,
        ),
      ])
    }
    const next = fromScale(rt, this.view(rt, old), replicas)
    const written = this.write({ ...t, subresource: undefined }, old, next, opts, false)
    return toScale(rt, written)
  }

  private tracksGeneration(rt: ResourceType): boolean {
    return !rt.builtin || GENERATION_KINDS.has(rt.kind)
  }

  private manager(opts: WriteOptions): string {
    return opts.fieldManager || "unknown"
  }

  delete(t: Target, body: unknown, query: { propagationPolicy?: string | null; dryRun?: boolean }): Obj {
    return deleteObject(this, t, body, query)
  }
}

const toStorage = (rt: ResourceType, o: Obj): Obj => (rt.codec ? rt.codec.encode(o) : o)

/** Spec changes bump generation: anything but metadata (and status where it is a subresource). */
function specChanged(rt: ResourceType, old: Obj, o: Obj): boolean {
  const strip = (x: Obj) => {
    const c = { ...x }
    delete c.metadata
    delete c.apiVersion
    if (rt.status || rt.builtin) delete c.status
    return c
  }
  return !deepEqual(strip(old), strip(o))
}

/** A write that changes nothing but managedFields timestamps is a no-op (no new resourceVersion). */
function sameIgnoringTimes(a: Obj, b: Obj): boolean {
  const strip = (x: Obj) => {
    const c = clone(x)
    delete c.apiVersion
    for (const m of (c.metadata.managedFields ?? []) as Obj[]) delete m.time
    return c
  }
  return deepEqual(strip(a), strip(b))
}

export { ApiError, pendingFinalizers }
