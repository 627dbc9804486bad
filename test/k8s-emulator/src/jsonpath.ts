// The JSONPath subset printer columns use: `.a.b`, `[N]`, `[*]` and `[?(@.k=="v")]` filters.
import { isObject } from "./types.ts"

type Step = { field: string } | { index: number } | { all: true } | { filter: { path: string[]; value: string } }

function parse(expr: string): Step[] {
  const steps: Step[] = []
  const re =
    /\.([A-Za-z0-9_\-$]+)|\[(\d+)\]|\[\*\]|\[\?\(@\.([A-Za-z0-9_.\-]+)\s*==\s*["']([^"']*)["']\)\]|\['([^']+)'\]/g
  let m: RegExpExecArray | null
  const body = expr.trim().replace(/^\{|\}$/g, "").replace(/^\$/, "")
  while ((m = re.exec(body)) !== null) {
    if (m[1] !== undefined) steps.push({ field: m[1] })
    else if (m[2] !== undefined) steps.push({ index: Number(m[2]) })
    else if (m[3] !== undefined) steps.push({ filter: { path: m[3].split("."), value: m[4] ?? "" } })
    else if (m[5] !== undefined) steps.push({ field: m[5] })
    else steps.push({ all: true })
  }
  return steps
}

/** Every value the path selects. */
export function evaluate(expr: string, doc: unknown): unknown[] {
  let cur: unknown[] = [doc]
  for (const s of parse(expr)) {
    const next: unknown[] = []
    for (const v of cur) {
      if ("field" in s) {
        if (isObject(v) && v[s.field] !== undefined) next.push(v[s.field])
      } else if ("index" in s) {
        if (Array.isArray(v) && s.index < v.length) next.push(v[s.index])
      } else if ("all" in s) {
        if (Array.isArray(v)) next.push(...v)
        else if (isObject(v)) next.push(...Object.values(v))
      } else if (Array.isArray(v)) {
        for (const item of v) {
          let x: unknown = item
          for (const p of s.filter.path) x = isObject(x) ? x[p] : undefined
          if (x !== undefined && String(x) === s.filter.value) next.push(item)
        }
      }
    }
    cur = next
  }
  return cur
}
