// Strategic merge patch for built-in kinds: keyed lists merge element by element, `$patch`
// directives replace or delete, `$deleteFromPrimitiveList` and `$retainKeys` are honoured.
import { badRequest } from "./errors.ts"
import { builtinListType, keyOf } from "./listtypes.ts"
import { clone, deepEqual, isObject, type Obj } from "./types.ts"

export function strategicMerge(original: Obj, patch: unknown): Obj {
  if (!isObject(patch)) throw badRequest("strategic merge patch must be a JSON object")
  return mergeMap(original, patch, [])
}

function mergeMap(original: Obj | undefined, patch: Obj, path: string[]): Obj {
  const directive = patch.$patch
  if (directive === "delete") return {}
  const base: Obj = directive === "replace" || !isObject(original) ? {} : clone(original)
  const retain = patch.$retainKeys
  for (const [k, v] of Object.entries(patch)) {
    if (k === "$patch" || k === "$retainKeys" || k.startsWith("$setElementOrder/")) continue
    if (k.startsWith("$deleteFromPrimitiveList/")) {
      const field = k.slice("$deleteFromPrimitiveList/".length)
      if (Array.isArray(base[field]) && Array.isArray(v)) {
        base[field] = base[field].filter((x: unknown) => !v.some((d) => deepEqual(d, x)))
      }
      continue
    }
    if (v === null) {
      delete base[k]
      continue
    }
    base[k] = mergeValue(base[k], v, [...path, k])
  }
  if (Array.isArray(retain)) { for (const k of Object.keys(base)) if (!retain.includes(k)) delete base[k] }
  return base
}

function mergeValue(original: unknown, patch: unknown, path: string[]): unknown {
  if (isObject(patch)) return mergeMap(isObject(original) ? original : undefined, patch, path)
  if (Array.isArray(patch)) return mergeList(Array.isArray(original) ? original : undefined, patch, path)
  return clone(patch)
}

function mergeList(original: unknown[] | undefined, patch: unknown[], path: string[]): unknown[] {
  const lt = builtinListType(path)
  if (lt.type === "atomic") return clone(patch.filter((p) => !(isObject(p) && p.$patch)))
  if (lt.type === "set") {
    const out = clone(original ?? [])
    for (const p of patch) if (!out.some((o) => deepEqual(o, p))) out.push(clone(p))
    return out
  }
  if (patch.some((p) => isObject(p) && p.$patch === "replace" && Object.keys(p).length === 1)) {
    return clone(patch.filter((p) => !(isObject(p) && p.$patch === "replace")))
  }
  const out = clone(original ?? [])
  for (const p of patch) {
    const key = keyOf(p, lt.keys)
    if (key === undefined) {
      throw badRequest(`map: ${JSON.stringify(p)} does not contain declared merge key: ${lt.keys.join(",")}`)
    }
    const at = out.findIndex((o) => keyOf(o, lt.keys) === key)
    if (isObject(p) && p.$patch === "delete") {
      if (at >= 0) out.splice(at, 1)
      continue
    }
    if (at >= 0) out[at] = mergeMap(out[at] as Obj, p as Obj, path)
    else out.push(mergeMap(undefined, p as Obj, path))
  }
  return out
}
