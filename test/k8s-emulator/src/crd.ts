// CustomResourceDefinitions: validation of the definition, then the asynchronous life cycle the
// real apiextensions controllers run: NamesAccepted, Established (the resource is served and
// discoverable from then on), and on deletion the removal of every custom resource first.
import type { Api } from "./api.ts"
import { type FieldError, fieldError, immutable, invalid, required } from "./errors.ts"
import type { Registry } from "./registry.ts"
import { structuralErrors } from "./schema.ts"
import type { StoreEvent } from "./store.ts"
import { clone, isObject, nowTimestamp, type Obj, type ResourceType, storageKey } from "./types.ts"

const CRD_STORAGE = "apiextensions.k8s.io/customresourcedefinitions"
export const CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
const CRUD = ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"]
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

export function validateCrd(o: Obj, old: Obj | undefined): FieldError[] {
  const errors: FieldError[] = []
  const spec = o.spec
  if (!isObject(spec)) return [required("spec")]
  const names = isObject(spec.names) ? spec.names : {}
  if (typeof spec.group !== "string" || spec.group === "") errors.push(required("spec.group"))
  else if (!spec.group.includes(".")) {
    errors.push(invalid("spec.group", spec.group, "should be a domain with at least one dot"))
  }
  if (typeof names.plural !== "string" || names.plural === "") errors.push(required("spec.names.plural"))
  else if (!DNS_LABEL.test(names.plural)) {
    errors.push(
      invalid(
        "spec.names.plural",
        names.plural,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'",
      ),
    )
  }
  if (typeof names.kind !== "string" || names.kind === "") errors.push(required("spec.names.kind"))
  if (spec.scope !== "Namespaced" && spec.scope !== "Cluster") {
    errors.push(
      fieldError(
        "FieldValueNotSupported",
        "spec.scope",
        `Unsupported value: ${JSON.stringify(spec.scope ?? "")}: supported values: "Cluster", "Namespaced"`,
      ),
    )
  }
  if (
    typeof spec.group === "string" && typeof names.plural === "string" &&
    o.metadata.name !== `${names.plural}.${spec.group}`
  ) {
    errors.push(invalid("metadata.name", o.metadata.name, "must be spec.names.plural+\".\"+spec.group"))
  }
  const versions = Array.isArray(spec.versions) ? spec.versions : []
  if (versions.length === 0) errors.push(required("spec.versions"))
  if (versions.filter((v: Obj) => v?.storage === true).length !== 1) {
    errors.push(
      invalid(
        "spec.versions",
        "[]apiextensions.CustomResourceDefinitionVersion{...}",
        "must have exactly one version marked as storage version",
      ),
    )
  }
  versions.forEach((v: Obj, i: number) => {
    const p = `spec.versions[${i}]`
    if (typeof v?.name !== "string" || !/^v\d+((alpha|beta)\d+)?$|^[a-z0-9]+$/.test(v.name)) {
      errors.push(required(`${p}.name`))
    }
    if (typeof v?.served !== "boolean") errors.push(required(`${p}.served`))
    const schema = v?.schema?.openAPIV3Schema
    if (!isObject(schema)) {
      errors.push(
        fieldError("FieldValueRequired", `${p}.schema.openAPIV3Schema`, "Required value: schemas are required"),
      )
    } else if (schema.type !== "object") {
      errors.push(invalid(`${p}.schema.openAPIV3Schema.type`, schema.type ?? "", "must be object at the root"))
    } else errors.push(...structuralErrors(schema, `${p}.schema.openAPIV3Schema`))
    const scale = v?.subresources?.scale
    if (isObject(scale)) {
      if (typeof scale.specReplicasPath !== "string" || !scale.specReplicasPath.startsWith(".spec.")) {
        errors.push(
          invalid(
            `${p}.subresources.scale.specReplicasPath`,
            scale.specReplicasPath ?? "",
            "should be a json path under .spec",
          ),
        )
      }
      if (typeof scale.statusReplicasPath !== "string" || !scale.statusReplicasPath.startsWith(".status.")) {
        errors.push(
          invalid(
            `${p}.subresources.scale.statusReplicasPath`,
            scale.statusReplicasPath ?? "",
            "should be a json path under .status",
          ),
        )
      }
    }
  })
  if (old && old.spec?.group !== spec.group) errors.push(immutable("spec.group", spec.group))
  if (old && old.spec?.scope !== spec.scope) errors.push(immutable("spec.scope", spec.scope))
  return errors
}

/** Fills the defaults the server adds to a CRD. */
export function defaultCrd(o: Obj): void {
  const names = o.spec?.names
  if (!isObject(names)) return
  if (typeof names.kind === "string") {
    names.singular ??= names.kind.toLowerCase()
    names.listKind ??= `${names.kind}List`
  }
  o.spec.conversion ??= { strategy: "None" }
  o.metadata.finalizers ??= []
  if (!o.metadata.deletionTimestamp && !o.metadata.finalizers.includes(CLEANUP_FINALIZER)) {
    o.metadata.finalizers.push(CLEANUP_FINALIZER)
  }
}

export function typesOf(crd: Obj): ResourceType[] {
  const s = crd.spec
  return (s.versions as Obj[])
    .filter((v) => v.served === true)
    .map((v) => ({
      group: s.group,
      version: v.name,
      plural: s.names.plural,
      singular: s.names.singular ?? s.names.kind.toLowerCase(),
      kind: s.names.kind,
      listKind: s.names.listKind ?? `${s.names.kind}List`,
      shortNames: s.names.shortNames ?? [],
      categories: s.names.categories ?? [],
      namespaced: s.scope === "Namespaced",
      verbs: CRUD,
      status: isObject(v.subresources?.status),
      ...(isObject(v.subresources?.scale) ? { scale: v.subresources.scale } : {}),
      builtin: false,
      schema: v.schema?.openAPIV3Schema,
      printerColumns: v.additionalPrinterColumns ?? [],
      crd: crd.metadata.name,
    }))
}

const condition = (type: string, status: string, reason: string, message: string) => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: nowTimestamp(),
})

export interface CrdTimings {
  /** Delay before NamesAccepted, and again before Established. */
  establishDelayMs: number
  cleanupPollMs: number
}

/** The apiextensions controllers: names, establishing, serving, cleanup. */
export class CrdController {
  private readonly pending = new Set<ReturnType<typeof setTimeout>>()

  constructor(
    private readonly api: Api,
    private readonly registry: Registry,
    private readonly timings: CrdTimings,
    /** Called with the storage of a resource that is no longer served (its watches end). */
    private readonly onUnserved: (storage: string) => void = () => {},
  ) {}

  onEvent(e: StoreEvent): void {
    if (e.storage !== CRD_STORAGE) return
    const name = e.name
    if (e.type === "DELETED") {
      const served = this.registry.all().find((t) => t.crd === name)
      this.registry.removeCrd(name)
      this.api.terminatingCrds.delete(name)
      if (served) this.onUnserved(storageKey(served))
      return
    }
    const crd = e.object
    if (crd.metadata.deletionTimestamp) {
      if (!this.api.terminatingCrds.has(name)) {
        this.api.terminatingCrds.add(name)
        this.later(() => this.cleanup(name), 0)
      }
      return
    }
    const established = (crd.status?.conditions ?? []).some((c: Obj) => c.type === "Established" && c.status === "True")
    if (established) {
      if (e.type === "MODIFIED" && e.previous && JSON.stringify(e.previous.spec) !== JSON.stringify(crd.spec)) {
        this.serve(crd)
      }
      return
    }
    if (e.type === "ADDED") this.later(() => this.acceptNames(name), this.timings.establishDelayMs)
  }

  private later(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.pending.delete(t)
      fn()
    }, ms)
    this.pending.add(t)
  }

  stop(): void {
    for (const t of this.pending) clearTimeout(t)
    this.pending.clear()
  }

  private crdType = () => this.registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")!

  private writeStatus(name: string, change: (status: Obj, crd: Obj) => void): Obj | undefined {
    const crd = this.api.find(this.crdType(), "", name)
    if (!crd) return undefined
    const next = clone(crd)
    next.status ??= {}
    change(next.status, next)
    return this.api.update({ rt: this.crdType(), namespace: "", name, subresource: "status" }, next, {
      fieldManager: "apiextensions-controller",
    })
  }

  private conflictFor(crd: Obj): string | undefined {
    for (const other of this.api.store.list(CRD_STORAGE)) {
      if (other.metadata.name === crd.metadata.name || other.spec.group !== crd.spec.group) continue
      if (other.spec.names.kind === crd.spec.names.kind) return `"${crd.spec.names.kind}" is already in use`
    }
    return undefined
  }

  private acceptNames(name: string): void {
    const crd = this.api.find(this.crdType(), "", name)
    if (!crd || crd.metadata.deletionTimestamp) return
    const clash = this.conflictFor(crd)
    this.writeStatus(name, (status, c) => {
      status.acceptedNames = clash ? {} : clone(c.spec.names)
      status.conditions = clash
        ? [
          condition("NamesAccepted", "False", "KindConflict", clash),
          condition("Established", "False", "NotAccepted", "not all names are accepted"),
        ]
        : [
          condition("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
          condition("Established", "False", "Installing", "the initial names have been accepted"),
        ]
      status.storedVersions ??= []
    })
    if (!clash) this.later(() => this.establish(name), this.timings.establishDelayMs)
  }

  private establish(name: string): void {
    const crd = this.api.find(this.crdType(), "", name)
    if (!crd || crd.metadata.deletionTimestamp) return
    this.serve(crd)
    this.writeStatus(name, (status) => {
      status.conditions = (status.conditions ?? []).filter((c: Obj) => c.type !== "Established")
      status.conditions.push(
        condition("Established", "True", "InitialNamesAccepted", "the initial names have been accepted"),
      )
    })
  }

  /** Serves the CRD's versions as they are now, and records the storage version. */
  private serve(crd: Obj): void {
    this.registry.removeCrd(crd.metadata.name)
    for (const t of typesOf(crd)) this.registry.add(t)
    const storage = (crd.spec.versions as Obj[]).find((v) => v.storage)?.name
    if (storage && !(crd.status?.storedVersions ?? []).includes(storage)) {
      this.writeStatus(crd.metadata.name, (status) => {
        status.storedVersions = [...(status.storedVersions ?? []), storage]
      })
    }
  }

  /** Deletes every custom resource, waits for their finalizers, then releases the CRD. */
  private cleanup(name: string): void {
    const crd = this.api.find(this.crdType(), "", name)
    if (!crd) return
    const rt = this.registry.all().find((t) => t.crd === name) ?? typesOf(crd)[0]
    if (rt) {
      this.writeStatus(name, (status) => {
        status.conditions = (status.conditions ?? []).filter((c: Obj) => c.type !== "Terminating")
        status.conditions.push(
          condition(
            "Terminating",
            "True",
            "InstanceDeletionInProgress",
            "CustomResourceDefinition marked for deletion; deleting instances",
          ),
        )
      })
      const remaining = this.api.store.list(storageKey(rt))
      for (const o of remaining) {
        if (o.metadata.deletionTimestamp) continue
        try {
          this.api.delete({ rt, namespace: o.metadata.namespace ?? "", name: o.metadata.name }, undefined, {})
        } catch {}
      }
      if (this.api.store.list(storageKey(rt)).length > 0) {
        this.later(() => this.cleanup(name), this.timings.cleanupPollMs)
        return
      }
    }
    const latest = this.api.find(this.crdType(), "", name)!
    const next = clone(latest)
    next.metadata.finalizers = (next.metadata.finalizers ?? []).filter((f: string) => f !== CLEANUP_FINALIZER)
    this.api.update({ rt: this.crdType(), namespace: "", name }, next, { fieldManager: "apiextensions-controller" })
  }
}
