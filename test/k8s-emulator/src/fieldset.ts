// Field sets as server-side apply tracks them: leaf paths, with list-map items named by their keys
// (`k:{"name":"app"}`), set items by value (`v:"x"`), encoded as managedFields' FieldsV1 trees.
import { builtinListType, childSchema, keyOf, type ListType, schemaListType } from "./listtypes.ts"
import { deepEqual, isObject, type Obj } from "./types.ts"

const SEP = "\u0000"
export type FieldSet = Set<string>

/** Fields the server sets itself, never owned by a manager. */
const SERVER_METADATA = new Set([
  "name",
  "namespace",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "managedFields",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "selfLink",
])

export interface Shape {
  builtin: boolean
  schema?: Obj
}

interface Cursor {
  names: string[]
  schema: Obj | undefined
}

function listTypeAt(shape: Shape, c: Cursor): ListType {
  return shape.builtin ? builtinListType(c.names) : schemaListType(c.schema)
}

/** The fields an object sets. `part` picks the main resource (no status) or the status. */
export function fieldsOf(obj: Obj, shape: Shape, part: "main" | "status" | "all"): FieldSet {
  const out: FieldSet = new Set()
  for (const [k, v] of Object.entries(obj)) {
    if (k === "apiVersion" || k === "kind" || v === undefined) continue
    if (part === "main" && k === "status") continue
    if (part === "status" && k !== "status") continue
    const cur: Cursor = { names: [k], schema: childSchema(shape.schema, k) }
    if (k === "metadata" && isObject(v)) {
      for (const [mk, mv] of Object.entries(v)) {
        if (SERVER_METADATA.has(mk) || mv === undefined) continue
        walk(mv, [`f:metadata`, `f:${mk}`], { names: ["metadata", mk], schema: undefined }, shape, out)
      }
      continue
    }
    walk(v, [`f:${k}`], cur, shape, out)
  }
  return out
}

function walk(v: unknown, path: string[], c: Cursor, shape: Shape, out: FieldSet): void {
  if (isObject(v)) {
    const keys = Object.keys(v).filter((k) => v[k] !== undefined)
    if (keys.length === 0) out.add(path.join(SEP))
    for (const k of keys) {
      walk(v[k], [...path, `f:${k}`], { names: [...c.names, k], schema: childSchema(c.schema, k) }, shape, out)
    }
    return
  }
  if (Array.isArray(v)) {
    const lt = listTypeAt(shape, c)
    const itemCursor = { names: c.names, schema: childSchema(c.schema, 0) }
    if (lt.type === "set") {
      for (const item of v) out.add([...path, `v:${JSON.stringify(item)}`].join(SEP))
      return
    }
    if (lt.type === "map" && v.every((item) => keyOf(item, lt.keys) !== undefined)) {
      for (const item of v) {
        const elem = [...path, `k:${keyOf(item, lt.keys)}`]
        out.add(elem.join(SEP))
        for (const [k, iv] of Object.entries(item as Obj)) {
          walk(
            iv,
            [...elem, `f:${k}`],
            { names: [...c.names, k], schema: childSchema(itemCursor.schema, k) },
            shape,
            out,
          )
        }
      }
      return
    }
    out.add(path.join(SEP))
    return
  }
  out.add(path.join(SEP))
}

export const splitPath = (p: string) => p.split(SEP)

/** Where a path points in an object, if it exists there. */
export function valueAt(obj: unknown, path: string): { found: boolean; value?: unknown } {
  let cur: unknown = obj
  for (const e of splitPath(path)) {
    const next = step(cur, e)
    if (!next.found) return { found: false }
    cur = next.value
  }
  return { found: true, value: cur }
}

function step(cur: unknown, e: string): { found: boolean; value?: unknown; index?: number } {
  const tag = e.slice(0, 2)
  const rest = e.slice(2)
  if (tag === "f:") {
    return isObject(cur) && cur[rest] !== undefined
      ? { found: true, value: cur[rest] }
      : { found: false }
  }
  if (!Array.isArray(cur)) return { found: false }
  if (tag === "k:") {
    const want = JSON.parse(rest) as Obj
    const i = cur.findIndex((item) => isObject(item) && Object.entries(want).every(([k, v]) => deepEqual(item[k], v)))
    return i < 0 ? { found: false } : { found: true, value: cur[i], index: i }
  }
  if (tag === "v:") {
    const want = JSON.parse(rest)
    const i = cur.findIndex((item) => deepEqual(item, want))
    return i < 0 ? { found: false } : { found: true, value: cur[i], index: i }
  }
  const i = Number(rest)
  return i < cur.length ? { found: true, value: cur[i], index: i } : { found: false }
}

/** Removes what a path points at (a field, a list item); no-op when it is already gone. */
export function removeAt(obj: Obj, path: string): void {
  const elems = splitPath(path)
  let cur: unknown = obj
  for (const e of elems.slice(0, -1)) {
    const next = step(cur, e)
    if (!next.found) return
    cur = next.value
  }
  const last = elems[elems.length - 1]!
  if (last.startsWith("f:")) {
    if (isObject(cur)) delete cur[last.slice(2)]
    return
  }
  const s = step(cur, last)
  if (s.found && Array.isArray(cur)) cur.splice(s.index!, 1)
}

/** `.spec.containers[name="app"].image`: how conflict messages name a field. */
export function pathString(path: string): string {
  let out = ""
  for (const e of splitPath(path)) {
    const rest = e.slice(2)
    if (e.startsWith("f:")) out += `.${rest}`
    else if (e.startsWith("k:")) {
      const parts = Object.entries(JSON.parse(rest) as Obj).map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      out += `[${parts.join(",")}]`
    } else if (e.startsWith("v:")) out += `[=${rest}]`
    else out += `[${rest}]`
  }
  return out
}

export function toFieldsV1(set: FieldSet): Obj {
  const root: Obj = {}
  const members = new Set<Obj>()
  for (const p of set) {
    let node = root
    for (const e of splitPath(p)) node = node[e] ??= {}
    members.add(node)
  }
  const finish = (node: Obj) => {
    const keys = Object.keys(node)
    for (const k of keys) finish(node[k])
    if (members.has(node) && keys.length > 0) node["."] = {}
  }
  finish(root)
  return root
}

export function fromFieldsV1(tree: Obj | undefined): FieldSet {
  const out: FieldSet = new Set()
  const visit = (node: Obj, path: string[]) => {
    for (const [k, v] of Object.entries(node)) {
      if (k === ".") {
        out.add(path.join(SEP))
        continue
      }
      const child = [...path, k]
      if (!isObject(v) || Object.keys(v).length === 0) out.add(child.join(SEP))
      else visit(v, child)
    }
  }
  if (isObject(tree)) visit(tree, [])
  return out
}

/** True when `p` is `prefix` itself or lies under it. */
export const isUnder = (p: string, prefix: string) => p === prefix || p.startsWith(prefix + SEP)
