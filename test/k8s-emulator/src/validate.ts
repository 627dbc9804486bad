// Validation of metadata and of the built-in kinds' required fields, with the real messages.
import { type FieldError, fieldError, immutable, invalid, required } from "./errors.ts"
import { labelSelectorObject } from "./selectors.ts"
import { deepEqual, isObject, type Obj } from "./types.ts"

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/
const QUALIFIED_NAME =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/

export function validateName(kind: string, name: string): FieldError[] {
  if (kind === "Namespace" || kind === "Service") {
    const re = kind === "Service" ? DNS1035_LABEL : DNS1123_LABEL
    if (name.length > 63 || !re.test(name)) {
      return [invalid(
        "metadata.name",
        name,
        kind === "Service"
          ? "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
          : "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
      )]
    }
    return []
  }
  if (kind === "ClusterRole" || kind === "Role" || kind === "ClusterRoleBinding" || kind === "RoleBinding") {
    return name.includes("/") || name.includes("%") || name === "." || name === ".."
      ? [invalid("metadata.name", name, "may not contain '/' or '%'")]
      : []
  }
  if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    return [
      invalid(
        "metadata.name",
        name,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
      ),
    ]
  }
  return []
}

export function validateMetadata(meta: Obj): FieldError[] {
  const errors: FieldError[] = []
  for (const [field, map] of [["labels", meta.labels], ["annotations", meta.annotations]] as const) {
    if (map === undefined || map === null) continue
    if (!isObject(map)) {
      errors.push(invalid(`metadata.${field}`, map, "must be a map of strings"))
      continue
    }
    for (const [k, v] of Object.entries(map)) {
      if (!QUALIFIED_NAME.test(k) || k.length > 316) {
        errors.push(
          invalid(
            `metadata.${field}`,
            k,
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
          ),
        )
      }
      if (typeof v !== "string") errors.push(invalid(`metadata.${field}.${k}`, v, "must be a string"))
      else if (field === "labels" && (v.length > 63 || !LABEL_VALUE.test(v))) {
        errors.push(
          invalid(
            `metadata.labels`,
            v,
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
          ),
        )
      }
    }
  }
  if (
    meta.finalizers !== undefined &&
    !(Array.isArray(meta.finalizers) && meta.finalizers.every((f: unknown) => typeof f === "string"))
  ) {
    errors.push(invalid("metadata.finalizers", meta.finalizers, "must be a list of strings"))
  }
  const refs = Array.isArray(meta.ownerReferences) ? meta.ownerReferences : []
  for (const [i, ref] of refs.entries()) {
    for (const f of ["apiVersion", "kind", "name", "uid"]) {
      if (!isObject(ref) || !ref[f]) errors.push(required(`metadata.ownerReferences[${i}].${f}`))
    }
  }
  if (refs.filter((r: Obj) => isObject(r) && r.controller === true).length > 1) {
    errors.push(
      invalid(
        "metadata.ownerReferences",
        "[]v1.OwnerReference{...}",
        "Only one reference can have Controller set to true",
      ),
    )
  }
  return errors
}

function containers(spec: Obj | undefined, path: string): FieldError[] {
  const errors: FieldError[] = []
  const list = spec?.containers
  if (!Array.isArray(list) || list.length === 0) return [required(`${path}.containers`)]
  const names = new Set<string>()
  list.forEach((c: unknown, i: number) => {
    const p = `${path}.containers[${i}]`
    if (!isObject(c)) return errors.push(invalid(p, c, "must be an object"))
    if (typeof c.name !== "string" || c.name === "") errors.push(required(`${p}.name`))
    else if (names.has(c.name)) {
      errors.push(fieldError("FieldValueDuplicate", `${p}.name`, `Duplicate value: ${JSON.stringify(c.name)}`))
    } else names.add(c.name)
    if (typeof c.image !== "string" || c.image === "") errors.push(required(`${p}.image`))
  })
  return errors
}

function workload(o: Obj, old: Obj | undefined): FieldError[] {
  const errors: FieldError[] = []
  const spec = o.spec
  if (!isObject(spec)) return [required("spec")]
  if (!isObject(spec.selector)) errors.push(required("spec.selector"))
  else {
    const labels = spec.template?.metadata?.labels ?? {}
    if (!labelSelectorObject(spec.selector)(labels)) {
      errors.push(invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`"))
    }
  }
  if (typeof spec.replicas === "number" && spec.replicas < 0) {
    errors.push(invalid("spec.replicas", spec.replicas, "must be greater than or equal to 0"))
  }
  errors.push(...containers(spec.template?.spec, "spec.template.spec"))
  if (old && !deepEqual(old.spec?.selector, spec.selector)) errors.push(immutable("spec.selector", spec.selector))
  return errors
}

const KIND_VALIDATORS: Record<string, (o: Obj, old: Obj | undefined) => FieldError[]> = {
  Deployment: workload,
  StatefulSet: workload,
  ReplicaSet: workload,
  Pod: (o) => containers(o.spec, "spec"),
  Job(o, old) {
    const errors = containers(o.spec?.template?.spec, "spec.template.spec")
    const rp = o.spec?.template?.spec?.restartPolicy
    if (rp !== "Never" && rp !== "OnFailure") {
      errors.push(
        fieldError(
          "FieldValueNotSupported",
          "spec.template.spec.restartPolicy",
          `Unsupported value: ${JSON.stringify(rp ?? "Always")}: supported values: "OnFailure", "Never"`,
        ),
      )
    }
    if (old && !deepEqual(old.spec?.template, o.spec?.template)) {
      errors.push(immutable("spec.template", "core.PodTemplateSpec{...}"))
    }
    return errors
  },
  Service(o) {
    const errors: FieldError[] = []
    ;(o.spec?.ports ?? []).forEach((p: Obj, i: number) => {
      if (typeof p?.port !== "number") errors.push(required(`spec.ports[${i}].port`))
    })
    if (o.spec?.type !== "ExternalName" && o.spec?.clusterIP !== "None" && (o.spec?.ports ?? []).length === 0) {
      errors.push(required("spec.ports"))
    }
    return errors
  },
  HorizontalPodAutoscaler(o) {
    const errors: FieldError[] = []
    if (!isObject(o.spec?.scaleTargetRef)) errors.push(required("spec.scaleTargetRef"))
    if (typeof o.spec?.maxReplicas !== "number" || o.spec.maxReplicas < 1) {
      errors.push(invalid("spec.maxReplicas", o.spec?.maxReplicas ?? 0, "must be greater than or equal to 1"))
    }
    if (
      typeof o.spec?.minReplicas === "number" && typeof o.spec?.maxReplicas === "number" &&
      o.spec.minReplicas > o.spec.maxReplicas
    ) {
      errors.push(invalid("spec.maxReplicas", o.spec.maxReplicas, "must be greater than or equal to `minReplicas`"))
    }
    return errors
  },
  Lease(o) {
    const d = o.spec?.leaseDurationSeconds
    return d !== undefined && (typeof d !== "number" || d <= 0)
      ? [invalid("spec.leaseDurationSeconds", d, "must be greater than 0")]
      : []
  },
  ConfigMap(o) {
    const errors: FieldError[] = []
    for (const k of Object.keys({ ...(o.data ?? {}), ...(o.binaryData ?? {}) })) {
      if (!/^[-._a-zA-Z0-9]+$/.test(k)) {
        errors.push(invalid("data", k, "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"))
      }
    }
    return errors
  },
}

export function validateBuiltin(o: Obj, old: Obj | undefined): FieldError[] {
  return KIND_VALIDATORS[o.kind]?.(o, old) ?? []
}
