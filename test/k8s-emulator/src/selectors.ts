// Label selectors (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`) and field selectors
// (`metadata.name`, `metadata.namespace`), as list and watch apply them.
import { badRequest } from "./errors.ts"
import type { Obj } from "./types.ts"

type Requirement =
  | { key: string; op: "eq" | "neq"; value: string }
  | { key: string; op: "in" | "notin"; values: string[] }
  | { key: string; op: "exists" | "absent" }

export type Selector = (labels: Record<string, string>) => boolean

const KEY = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$/
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/

/** Splits on commas that are not inside `( )`. */
function splitTop(s: string): string[] {
  const out: string[] = []
  let depth = 0
  let cur = ""
  for (const c of s) {
    if (c === "(") depth++
    if (c === ")") depth--
    if (c === "," && depth === 0) {
      out.push(cur)
      cur = ""
    } else cur += c
  }
  out.push(cur)
  return out
}

function checkKey(key: string, raw: string) {
  if (!KEY.test(key)) throw badRequest(`unable to parse requirement: invalid label key "${key}" in selector "${raw}"`)
}
function checkValue(v: string, raw: string) {
  if (v.length > 63 || !VALUE.test(v)) {
    throw badRequest(`unable to parse requirement: invalid label value: "${v}" in selector "${raw}"`)
  }
}

export function parseLabelSelector(raw: string | null): Selector {
  if (raw === null || raw.trim() === "") return () => true
  const reqs: Requirement[] = []
  for (const part0 of splitTop(raw)) {
    const part = part0.trim()
    if (part === "") {
      throw badRequest(`unable to parse requirement: found '', expected: identifier in selector "${raw}"`)
    }
    const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(part)
    if (set) {
      checkKey(set[1]!, raw)
      const values = set[3]!.split(",").map((v) => v.trim()).filter((v) => v !== "")
      for (const v of values) checkValue(v, raw)
      reqs.push({ key: set[1]!, op: set[2] as "in" | "notin", values })
      continue
    }
    const cmp = /^([^!=\s]+)\s*(==|!=|=)\s*(.*)$/.exec(part)
    if (cmp) {
      checkKey(cmp[1]!, raw)
      checkValue(cmp[3]!.trim(), raw)
      reqs.push({ key: cmp[1]!, op: cmp[2] === "!=" ? "neq" : "eq", value: cmp[3]!.trim() })
      continue
    }
    if (part.startsWith("!")) {
      checkKey(part.slice(1).trim(), raw)
      reqs.push({ key: part.slice(1).trim(), op: "absent" })
      continue
    }
    checkKey(part, raw)
    reqs.push({ key: part, op: "exists" })
  }
  return (labels) =>
    reqs.every((r) => {
      const has = Object.hasOwn(labels, r.key)
      const v = labels[r.key]
      switch (r.op) {
        case "eq":
          return has && v === r.value
        case "neq":
          return !has || v !== r.value
        case "in":
          return has && r.values.includes(v!)
        case "notin":
          return !has || !r.values.includes(v!)
        case "exists":
          return has
        case "absent":
          return !has
      }
    })
}

/** A `matchLabels`/`matchExpressions` LabelSelector object, as Deployments and HPAs carry. */
export function labelSelectorObject(sel: Obj | undefined): Selector {
  if (!sel) return () => false
  const parts: string[] = []
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) parts.push(`${k}=${v}`)
  for (const e of sel.matchExpressions ?? []) {
    const op = String(e.operator)
    if (op === "In") parts.push(`${e.key} in (${(e.values ?? []).join(",")})`)
    else if (op === "NotIn") parts.push(`${e.key} notin (${(e.values ?? []).join(",")})`)
    else if (op === "Exists") parts.push(e.key)
    else if (op === "DoesNotExist") parts.push(`!${e.key}`)
  }
  return parseLabelSelector(parts.join(","))
}

/** `matchLabels` as the `a=b,c=d` string Scale.status.selector carries. */
export const selectorString = (sel: Obj | undefined): string =>
  Object.entries(sel?.matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(",")

const FIELDS: Record<string, (o: Obj) => string> = {
  "metadata.name": (o) => o.metadata?.name ?? "",
  "metadata.namespace": (o) => o.metadata?.namespace ?? "",
}

// Extra fields some kinds support (kubectl describe asks for events by involvedObject).
const KIND_FIELDS: Record<string, Record<string, (o: Obj) => string>> = {
  Event: {
    "involvedObject.name": (o) => o.involvedObject?.name ?? "",
    "involvedObject.namespace": (o) => o.involvedObject?.namespace ?? "",
    "involvedObject.kind": (o) => o.involvedObject?.kind ?? "",
    "involvedObject.uid": (o) => o.involvedObject?.uid ?? "",
    "involvedObject.apiVersion": (o) => o.involvedObject?.apiVersion ?? "",
    "involvedObject.resourceVersion": (o) => o.involvedObject?.resourceVersion ?? "",
    "involvedObject.fieldPath": (o) => o.involvedObject?.fieldPath ?? "",
    reason: (o) => o.reason ?? "",
    type: (o) => o.type ?? "",
    // events.k8s.io names for the same fields (the stored form is core/v1).
    "regarding.name": (o) => o.involvedObject?.name ?? "",
    "regarding.namespace": (o) => o.involvedObject?.namespace ?? "",
    "regarding.kind": (o) => o.involvedObject?.kind ?? "",
    "regarding.uid": (o) => o.involvedObject?.uid ?? "",
  },
  Pod: { "status.phase": (o) => o.status?.phase ?? "", "spec.nodeName": (o) => o.spec?.nodeName ?? "" },
  Secret: { type: (o) => o.type ?? "" },
  Namespace: { "status.phase": (o) => o.status?.phase ?? "" },
}

export type ObjectFilter = (o: Obj) => boolean

export function parseFieldSelector(raw: string | null, kind: string): ObjectFilter {
  if (raw === null || raw.trim() === "") return () => true
  const tests: ObjectFilter[] = []
  for (const part0 of raw.split(",")) {
    const part = part0.trim()
    const m = /^([^!=]+)(==|!=|=)(.*)$/.exec(part)
    if (!m) throw badRequest(`invalid selector: '${raw}'; can't understand '${part}'`)
    const field = m[1]!.trim()
    const get = FIELDS[field] ?? KIND_FIELDS[kind]?.[field]
    if (!get) throw badRequest(`field label not supported: ${field}`)
    const value = m[3]!.trim()
    tests.push(m[2] === "!=" ? (o) => get(o) !== value : (o) => get(o) === value)
  }
  return (o) => tests.every((t) => t(o))
}

export const objectFilter = (labelSel: Selector, fieldSel: ObjectFilter): ObjectFilter => (o) =>
  labelSel(o.metadata?.labels ?? {}) && fieldSel(o)
