import { Console, Effect } from "effect"
import YAML from "yaml"
import { OutputFormat } from "./flags"

/** Renders rows as aligned columns under UPPERCASE headers (kubectl style); `empty` when there are none. */
export const table = (
  headers: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  empty = "(none)",
): string => {
  if (rows.length === 0) return empty
  const all = [headers.map((h) => h.toUpperCase()), ...rows]
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)))
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ").trimEnd())
    .join("\n")
}

export const toJson = (value: unknown): string => JSON.stringify(value, null, 2)
const toYaml = (value: unknown): string =>
  YAML.stringify(value, { lineWidth: 0, aliasDuplicateObjects: false }).trimEnd()

/**
 * Prints a command's result: `value` as JSON or YAML (the stable, scriptable shape), or the
 * human table/text the command renders from it.
 */
export const emit = (value: unknown, human: () => string): Effect.Effect<void, never, typeof OutputFormat.Identifier> =>
  Effect.gen(function*() {
    const format = yield* OutputFormat
    const text = format === "json" ? toJson(value) : format === "yaml" ? toYaml(value) : human()
    if (text !== "") yield* Console.log(text)
  })

/** A line for people (progress, hints): stderr, so stdout stays the result alone. */
export const note = (line: string): Effect.Effect<void> => Console.error(line)

/** A short cell for a value of unknown shape. */
export const cell = (v: unknown, max = 60): string => {
  if (v === undefined || v === null || v === "") return "-"
  const s = typeof v === "string" ? v : JSON.stringify(v)
  return s.length > max ? `${s.slice(0, max - 3)}...` : s
}

export const age = (iso: unknown, now = Date.now()): string => {
  const t = typeof iso === "string" ? Date.parse(iso) : typeof iso === "number" ? iso : NaN
  if (Number.isNaN(t)) return "-"
  const s = Math.max(0, Math.round((now - t) / 1000))
  return s < 120
    ? `${s}s`
    : s < 7200
    ? `${Math.round(s / 60)}m`
    : s < 172800
    ? `${Math.round(s / 3600)}h`
    : `${Math.round(s / 86400)}d`
}
