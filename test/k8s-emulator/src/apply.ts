// Server-side apply and managedFields: each manager owns the fields it set; an apply that would
// change a field another manager owns is a conflict unless forced; fields a manager stops applying
// are removed when nobody else owns them.
import { ApiError } from "./errors.ts"
import {
  type FieldSet,
  fieldsOf,
  fromFieldsV1,
  isUnder,
  pathString,
  removeAt,
  type Shape,
  splitPath,
  toFieldsV1,
  valueAt,
} from "./fieldset.ts"
import { builtinListType, childSchema, keyOf, schemaListType } from "./listtypes.ts"
import { clone, deepEqual, isObject, nowTimestamp, type Obj } from "./types.ts"

export interface ManagedEntry {
  manager: string
  operation: "Apply" | "Update"
  apiVersion: string
  time: string
  fieldsType: "FieldsV1"
  fieldsV1: Obj
  subresource?: string
}

interface Owner {
  entry: ManagedEntry
  set: FieldSet
}

const owners = (obj: Obj | undefined): Owner[] =>
  ((obj?.metadata?.managedFields ?? []) as ManagedEntry[]).map((entry) => ({
    entry,
    set: fromFieldsV1(entry.fieldsV1),
  }))

const sameEntry = (e: ManagedEntry, manager: string, operation: string, subresource: string | undefined) =>
  e.manager === manager && e.operation === operation && (e.subresource ?? "") === (subresource ?? "")

function store(list: Owner[]): ManagedEntry[] {
  return list
    .filter((o) => o.set.size > 0)
    .map((o) => ({ ...o.entry, fieldsType: "FieldsV1" as const, fieldsV1: toFieldsV1(o.set) }))
}

/** Drops fields that no longer exist from every manager. */
function prune(list: Owner[], obj: Obj): void {
  for (const o of list) for (const p of [...o.set]) if (!valueAt(obj, p).found) o.set.delete(p)
}

/**
 * After a non-apply write (create, update, patch): the writer takes ownership of every field it
 * changed, others lose those fields.
 */
export function recordUpdate(
  before: Obj | undefined,
  after: Obj,
  shape: Shape,
  manager: string,
  apiVersion: string,
  subresource: string | undefined,
): void {
  const list = owners(before)
  const part = subresource === "status" ? "status" : shape.builtin || shape.schema ? "main" : "main"
  const changed = [...fieldsOf(after, shape, part === "status" ? "status" : "main")].filter(
    (p) => !before || !deepEqual(valueAt(before, p).value, valueAt(after, p).value) || !valueAt(before, p).found,
  )
  if (changed.length > 0) {
    let mine = list.find((o) => sameEntry(o.entry, manager, "Update", subresource))
    if (!mine) {
      mine = {
        entry: {
          manager,
          operation: "Update",
          apiVersion,
          time: nowTimestamp(),
          fieldsType: "FieldsV1",
          fieldsV1: {},
          ...(subresource ? { subresource } : {}),
        },
        set: new Set(),
      }
      list.push(mine)
    }
    mine.entry.time = nowTimestamp()
    mine.entry.apiVersion = apiVersion
    for (const p of changed) {
      mine.set.add(p)
      for (const o of list) if (o !== mine) o.set.delete(p)
    }
  }
  prune(list, after)
  after.metadata.managedFields = store(list)
  if (after.metadata.managedFields.length === 0) delete after.metadata.managedFields
}

export interface ApplyRequest {
  live: Obj | undefined
  config: Obj
  shape: Shape
  manager: string
  apiVersion: string
  force: boolean
  subresource: string | undefined
}

/** Merges an applied configuration into the live object; throws 409 with causes on conflicts. */
export function serverSideApply(req: ApplyRequest): Obj {
  const { live, config, shape, manager, subresource } = req
  const part = subresource === "status" ? "status" : "main"
  const list = owners(live)
  const applied = fieldsOf(config, shape, part)
  const mine = list.find((o) => sameEntry(o.entry, manager, "Apply", subresource))
  const previous = mine?.set ?? new Set<string>()
  const base = live ? clone(live) : {}

  // Every other entry can conflict, including this manager's own Update entry (a create or
  // update it made without apply): the real server keys ownership by manager and operation.
  const conflicts: { owner: Owner; manager: string; apiVersion: string; path: string }[] = []
  for (const p of applied) {
    for (const o of list) {
      if (o === mine || !o.set.has(p)) continue
      const a = valueAt(base, p)
      const b = valueAt(config, p)
      if (a.found && !deepEqual(a.value, b.value)) {
        conflicts.push({ owner: o, manager: o.entry.manager, apiVersion: o.entry.apiVersion, path: p })
      }
    }
  }
  if (conflicts.length > 0 && !req.force) throw conflictError(conflicts)
  if (req.force) { for (const c of conflicts) c.owner.set.delete(c.path) }

  // Fields this manager applied before and no longer does go, unless someone else still owns them.
  // Outermost first: removing a list item takes its fields with it (its key fields included,
  // so the item could not be found again afterwards).
  const dropped = [...previous].filter((p) => !applied.has(p))
  dropped.sort((a, b) => splitPath(a).length - splitPath(b).length)
  const removed: string[] = []
  for (const p of dropped) {
    if (removed.some((r) => isUnder(p, r))) continue
    const ownedElsewhere = list.some((o) => o !== mine && [...o.set].some((q) => isUnder(q, p)))
    const stillApplied = [...applied].some((q) => isUnder(q, p))
    if (ownedElsewhere || stillApplied) continue
    removeAt(base, p)
    removed.push(p)
  }

  const merged = mergeApplied(base, config, shape, part)
  const entry: Owner = mine ?? {
    entry: {
      manager,
      operation: "Apply",
      apiVersion: req.apiVersion,
      time: "",
      fieldsType: "FieldsV1",
      fieldsV1: {},
      ...(subresource ? { subresource } : {}),
    },
    set: new Set(),
  }
  entry.entry.time = nowTimestamp()
  entry.entry.apiVersion = req.apiVersion
  entry.set = new Set(applied)
  if (!mine) list.push(entry)
  prune(list, merged)
  merged.metadata ??= {}
  merged.metadata.managedFields = store(list)
  return merged
}

function conflictError(conflicts: { manager: string; apiVersion: string; path: string }[]): ApiError {
  const causes = conflicts.map((c) => ({
    type: "FieldManagerConflict",
    reason: "FieldManagerConflict",
    message: `conflict with "${c.manager}" using ${c.apiVersion}`,
    field: pathString(c.path),
  }))
  const lines = conflicts.map((c) => `- ${c.manager} ${c.apiVersion}: ${pathString(c.path)}`)
  const head = `Apply failed with ${conflicts.length} conflict${conflicts.length === 1 ? "" : "s"}:`
  const message = conflicts.length === 1
    ? `${head} conflict with "${conflicts[0]!.manager}" using ${conflicts[0]!.apiVersion}: ${
      pathString(conflicts[0]!.path)
    }`
    : `${head} conflicts with ${[...new Set(conflicts.map((c) => `"${c.manager}"`))].join(", ")}:\n${lines.join("\n")}`
  return new ApiError(409, "Conflict", message, { causes })
}

/** Structural merge of the applied config over the live object, following list types. */
function mergeApplied(live: Obj, config: Obj, shape: Shape, part: "main" | "status"): Obj {
  const out = clone(live)
  for (const [k, v] of Object.entries(config)) {
    if (part === "main" && k === "status") continue
    if (part === "status" && k !== "status" && k !== "metadata" && k !== "apiVersion" && k !== "kind") continue
    out[k] = mergeValue(out[k], v, [k], childSchema(shape.schema, k), shape)
  }
  return out
}

function mergeValue(live: unknown, applied: unknown, names: string[], schema: Obj | undefined, shape: Shape): unknown {
  if (applied === null) return undefined
  if (isObject(applied)) {
    const out: Obj = isObject(live) ? clone(live) : {}
    for (const [k, v] of Object.entries(applied)) {
      const merged = mergeValue(out[k], v, [...names, k], childSchema(schema, k), shape)
      if (merged === undefined) delete out[k]
      else out[k] = merged
    }
    return out
  }
  if (Array.isArray(applied)) {
    const lt = shape.builtin ? builtinListType(names) : schemaListType(schema)
    if (lt.type === "set") {
      const out = Array.isArray(live) ? clone(live) : []
      for (const a of applied) if (!out.some((x) => deepEqual(x, a))) out.push(clone(a))
      return out
    }
    if (lt.type === "map" && applied.every((a) => keyOf(a, lt.keys) !== undefined)) {
      const out = Array.isArray(live) ? clone(live) : []
      for (const a of applied) {
        const i = out.findIndex((x) => keyOf(x, lt.keys) === keyOf(a, lt.keys))
        const merged = mergeValue(i >= 0 ? out[i] : undefined, a, names, childSchema(schema, 0), shape)
        if (i >= 0) out[i] = merged
        else out.push(merged)
      }
      return out
    }
    return clone(applied)
  }
  return applied
}
