// Lists: consistent snapshots at a resourceVersion, `limit`/`continue` paging (410 once the
// snapshot is compacted), and resourceVersionMatch.
import { ApiError, badRequest, expired } from "./errors.ts"
import { type ObjectFilter } from "./selectors.ts"
import type { Store } from "./store.ts"
import { groupVersion, type Obj, type ResourceType, served, storageKey } from "./types.ts"

export interface ListQuery {
  namespace?: string | undefined
  filter: ObjectFilter
  /** True when a label or field selector was given: the server then omits remainingItemCount. */
  selective: boolean
  limit?: number | undefined
  continueToken?: string | undefined
  resourceVersion?: string | undefined
  resourceVersionMatch?: string | undefined
}

interface Token {
  rv: number
  start: string
}

const encode = (t: Token) => Buffer.from(JSON.stringify({ v: "meta.k8s.io/v1", ...t })).toString("base64url")

function decode(raw: string): Token {
  try {
    const t = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"))
    if (typeof t.rv === "number" && typeof t.start === "string") return { rv: t.rv, start: t.start }
  } catch {}
  throw badRequest(`continue key is not valid: ${raw}`)
}

const keyOf = (o: Obj) => `${o.metadata.namespace ?? ""}/${o.metadata.name}`

function parseRv(raw: string): number {
  if (!/^[0-9]+$/.test(raw)) throw badRequest(`invalid resource version: ${raw}`)
  return Number(raw)
}

/** The items of a list request and the resourceVersion they are consistent at. */
export function listObjects(store: Store, rt: ResourceType, q: ListQuery): Obj {
  const storage = storageKey(rt)
  let rv = store.currentRv
  let items: Obj[]
  let after: string | undefined
  if (q.continueToken) {
    if (q.resourceVersion) throw badRequest("specifying resource version is not allowed when using continue")
    const token = decode(q.continueToken)
    const snapshot = store.listAt(storage, token.rv, q.namespace)
    if (!snapshot) {
      throw expired(
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue value from the response.",
      )
    }
    rv = token.rv
    items = snapshot
    after = token.start
  } else {
    const match = q.resourceVersionMatch
    const requested = q.resourceVersion
    if (match && !requested) throw badRequest("resourceVersionMatch is forbidden unless resourceVersion is provided")
    if (match && match !== "Exact" && match !== "NotOlderThan") {
      throw badRequest(`resourceVersionMatch: Unsupported value: "${match}": supported values: "Exact", "NotOlderThan"`)
    }
    if (match === "Exact" && requested === "0") {
      throw badRequest("resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"")
    }
    if (requested && requested !== "0") {
      const n = parseRv(requested)
      if (n > store.currentRv) {
        throw new ApiError(504, "Timeout", `Too large resource version: ${n}, current: ${store.currentRv}`, {
          causes: [{ reason: "ResourceVersionTooLarge", message: "Too large resource version" }],
          retryAfterSeconds: 1,
        })
      }
      if (match === "Exact") {
        const snapshot = store.listAt(storage, n, q.namespace)
        if (!snapshot) throw expired(`too old resource version: ${n} (${store.oldestAvailableRv})`)
        rv = n
        items = snapshot
      } else items = store.list(storage, q.namespace)
    } else items = store.list(storage, q.namespace)
  }
  let filtered = items.filter(q.filter)
  if (after !== undefined) filtered = filtered.filter((o) => keyOf(o) > after!)
  const meta: Obj = { resourceVersion: String(rv) }
  if (q.limit !== undefined && q.limit > 0 && filtered.length > q.limit) {
    const remaining = filtered.length - q.limit
    filtered = filtered.slice(0, q.limit)
    meta.continue = encode({ rv, start: keyOf(filtered[filtered.length - 1]!) })
    if (!q.selective) meta.remainingItemCount = remaining
  }
  return {
    kind: rt.listKind,
    apiVersion: groupVersion(rt),
    metadata: meta,
    items: filtered.map((o) => served(rt, o)),
  }
}
