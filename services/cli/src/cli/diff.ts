import { formatPath } from "@oprc/models"

export interface Change {
  readonly op: "+" | "-" | "~"
  readonly path: string
  readonly before?: unknown
  readonly after?: unknown
}

const isRecord = (u: unknown): u is Record<string, unknown> => u !== null && typeof u === "object" && !Array.isArray(u)
const isLeaf = (u: unknown) => !isRecord(u) && !Array.isArray(u)

/**
 * What changes from `before` to `after`, field by field (`classes[0].bindings[1].function`).
 * Lists are compared by position, and a whole new or removed subtree is one change, which
 * reads like `kubectl diff` without the unified-diff noise of re-serialised files.
 */
export const diff = (before: unknown, after: unknown, path: ReadonlyArray<PropertyKey> = []): Array<Change> => {
  if (JSON.stringify(before) === JSON.stringify(after)) return []
  if (before === undefined) return [{ op: "+", path: formatPath(path), after }]
  if (after === undefined) return [{ op: "-", path: formatPath(path), before }]
  if (isLeaf(before) || isLeaf(after) || Array.isArray(before) !== Array.isArray(after)) {
    return [{ op: "~", path: formatPath(path), before, after }]
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const out: Array<Change> = []
    for (let i = 0; i < Math.max(before.length, after.length); i++) out.push(...diff(before[i], after[i], [...path, i]))
    return out
  }
  const b = before as Record<string, unknown>
  const a = after as Record<string, unknown>
  const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])]
  return keys.flatMap((k) => diff(b[k], a[k], [...path, k]))
}

const show = (v: unknown) => JSON.stringify(v)

export const renderChanges = (changes: ReadonlyArray<Change>): string =>
  changes.map((c) =>
    c.op === "+"
      ? `+ ${c.path || "(all)"}: ${show(c.after)}`
      : c.op === "-"
      ? `- ${c.path || "(all)"}: ${show(c.before)}`
      : `~ ${c.path || "(all)"}: ${show(c.before)} -> ${show(c.after)}`
  ).join("\n")

/** Drops the fields servers manage (revisions, timestamps, status) before comparing desired state. */
export const withoutManaged = (u: unknown, managed: ReadonlyArray<string>): unknown =>
  isRecord(u) ? Object.fromEntries(Object.entries(u).filter(([k]) => !managed.includes(k))) : u
