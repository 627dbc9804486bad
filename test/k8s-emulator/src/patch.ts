// JSON patch (RFC 6902) and JSON merge patch (RFC 7396).
import { ApiError, badRequest } from "./errors.ts"
import { clone, deepEqual, isObject, type Obj } from "./types.ts"

const patchFailed = (message: string) => new ApiError(422, "Invalid", message)

function parsePointer(path: string): string[] {
  if (path === "") return []
  if (!path.startsWith("/")) throw badRequest(`invalid JSON pointer ${JSON.stringify(path)}: must start with "/"`)
  return path
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
}

function index(arr: unknown[], token: string, forAdd: boolean, path: string): number {
  if (forAdd && token === "-") return arr.length
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw patchFailed(`invalid array index ${JSON.stringify(token)} in ${path}`)
  const i = Number(token)
  if (i > arr.length || (!forAdd && i === arr.length)) throw patchFailed(`index ${i} out of range in ${path}`)
  return i
}

function parentOf(doc: unknown, tokens: string[], path: string): unknown {
  let cur = doc
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[index(cur, t, false, path)]
    else if (isObject(cur) && Object.hasOwn(cur, t)) cur = cur[t]
    else throw patchFailed(`doc is missing path: "${path}"`)
  }
  return cur
}

function getAt(doc: unknown, path: string): unknown {
  let cur = doc
  for (const t of parsePointer(path)) {
    if (Array.isArray(cur)) cur = cur[index(cur, t, false, path)]
    else if (isObject(cur) && Object.hasOwn(cur, t)) cur = cur[t]
    else throw patchFailed(`doc is missing path: "${path}"`)
  }
  return cur
}

function addAt(doc: unknown, path: string, value: unknown): unknown {
  const tokens = parsePointer(path)
  if (tokens.length === 0) return value
  const parent = parentOf(doc, tokens, path)
  const last = tokens[tokens.length - 1]!
  if (Array.isArray(parent)) parent.splice(index(parent, last, true, path), 0, value)
  else if (isObject(parent)) parent[last] = value
  else throw patchFailed(`doc is missing path: "${path}"`)
  return doc
}

function removeAt(doc: unknown, path: string): unknown {
  const tokens = parsePointer(path)
  if (tokens.length === 0) throw patchFailed("cannot remove the whole document")
  const parent = parentOf(doc, tokens, path)
  const last = tokens[tokens.length - 1]!
  if (Array.isArray(parent)) parent.splice(index(parent, last, false, path), 1)
  else if (isObject(parent) && Object.hasOwn(parent, last)) delete parent[last]
  else throw patchFailed(`unable to remove nonexistent key: ${last}: missing value`)
  return doc
}

/** Applies an RFC 6902 patch to a copy of `doc`. */
export function applyJsonPatch(doc: Obj, ops: unknown): Obj {
  if (!Array.isArray(ops)) throw badRequest("json patch must be an array of operations")
  let cur: unknown = clone(doc)
  for (const [i, op] of ops.entries()) {
    if (!isObject(op) || typeof op.op !== "string" || typeof op.path !== "string") {
      throw badRequest(`json patch operation ${i} needs "op" and "path"`)
    }
    const need = (k: string) => {
      if (!Object.hasOwn(op, k)) throw badRequest(`json patch operation ${i} (${op.op}) needs "${k}"`)
      return op[k]
    }
    switch (op.op) {
      case "add":
        cur = addAt(cur, op.path, clone(need("value")))
        break
      case "remove":
        cur = removeAt(cur, op.path)
        break
      case "replace":
        getAt(cur, op.path)
        cur = op.path === "" ? clone(need("value")) : addAt(removeAt(cur, op.path), op.path, clone(need("value")))
        break
      case "move": {
        const from = String(need("from"))
        const v = getAt(cur, from)
        cur = addAt(removeAt(cur, from), op.path, v)
        break
      }
      case "copy":
        cur = addAt(cur, op.path, clone(getAt(cur, String(need("from")))))
        break
      case "test": {
        const want = need("value")
        if (!deepEqual(getAt(cur, op.path), want)) {
          throw patchFailed(`testing value ${op.path} failed: the value is not ${JSON.stringify(want)}`)
        }
        break
      }
      default:
        throw badRequest(`json patch operation ${i}: unknown op ${JSON.stringify(op.op)}`)
    }
  }
  if (!isObject(cur)) throw badRequest("json patch must leave an object")
  return cur
}

/** RFC 7396: objects merge recursively, `null` deletes, everything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch)
  const out: Obj = isObject(target) ? clone(target) : {}
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k]
    else out[k] = mergePatch(out[k], v)
  }
  return out
}
