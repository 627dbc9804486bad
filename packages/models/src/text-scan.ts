import type { ShapeLimits } from "./bounds"
import type { FieldViolation } from "./errors"
import { formatPath } from "./issues"

/**
 * Scans of request text *before* it is parsed, for the documents whose parse alone would hold the
 * event loop: a JSON list of a million items (JSON.parse allocates every item before the shape
 * check could refuse the list) and YAML nested a million levels. Both stop at the first finding,
 * so a bomb costs microseconds; a document that passes costs one pass over its characters.
 */

interface Open {
  readonly list: boolean
  readonly pattern: string
  readonly path: Array<PropertyKey>
  /** Separators seen: the index of the current item. */
  commas: number
  /** Items allowed at this path (looked up once, not per separator). */
  readonly limit: number
  /** The key whose value comes next (objects). */
  key: string | undefined
}

const childPattern = (parent: Open, list: boolean, key: string | undefined): string =>
  list ? `${parent.pattern}[]` : parent.pattern === "" ? (key ?? "") : `${parent.pattern}.${key ?? ""}`

/**
 * Where the JSON string opened by the quote at `open` closes (the index of its closing quote), or
 * -1 when the text ends first. Native `indexOf` jumps, not a loop over every character (a 4 MB
 * string took ~20 ms that way); a quote after an odd run of backslashes is escaped.
 */
export const closingQuote = (text: string, open: number): number => {
  let q = open
  for (;;) {
    q = text.indexOf("\"", q + 1)
    if (q < 0) return -1
    let backslashes = 0
    while (text.charCodeAt(q - 1 - backslashes) === 0x5c) backslashes++
    if (backslashes % 2 === 0) return q
  }
}

/**
 * The first list or object in JSON `text` with more items than `limits` allow at its path (the
 * same patterns as checkShape), or nested deeper than `limits.maxDepth`. Malformed JSON is left
 * to JSON.parse to describe: the scan then answers undefined.
 */
export const scanJson = (text: string, limits: ShapeLimits): FieldViolation | undefined => {
  const stack: Array<Open> = []
  let lastString: string | undefined
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22 /* " */) {
      const q = closingQuote(text, i)
      if (q < 0) return undefined
      const j = q + 1
      const top = stack[stack.length - 1]
      // Only object keys are needed (short); values are skipped without copying.
      lastString = top !== undefined && !top.list && top.key === undefined && j - i < 512
        ? text.slice(i + 1, j - 1)
        : undefined
      i = j - 1
    } else if (c === 0x3a /* : */) {
      const top = stack[stack.length - 1]
      if (top !== undefined && !top.list) top.key = lastString ?? ""
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      const parent = stack[stack.length - 1]
      const path = parent === undefined ? [] : [...parent.path, parent.list ? parent.commas : (parent.key ?? "")]
      const pattern = parent === undefined ? "" : childPattern(parent, parent.list, parent.key)
      if (stack.length + 1 > limits.maxDepth) {
        return { path: formatPath(path), message: `is nested deeper than ${limits.maxDepth} levels` }
      }
      const limit = limits.items[pattern] ?? limits.maxItems
      stack.push({ list: c === 0x5b, pattern, path, commas: 0, key: undefined, limit })
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
      const closed = stack.pop()
      if (closed === undefined) return undefined
      const parent = stack[stack.length - 1]
      if (parent !== undefined && !parent.list) parent.key = undefined
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1]
      if (top === undefined) return undefined
      top.commas++
      top.key = undefined
      if (top.commas + 1 > top.limit) {
        // Over its limit: count the rest of this container's items quickly, for the message.
        const items = countItems(text, i + 1, top.commas + 1)
        if (items === undefined) return undefined
        const noun = top.list ? "items" : "entries"
        return { path: formatPath(top.path), message: `has ${items} ${noun}; at most ${top.limit} are allowed` }
      }
    }
  }
  return undefined
}

/**
 * The items of the container whose item number `seen` starts at `from`: separators at its own
 * level up to its closing bracket, strings jumped over natively. (The full scan's bookkeeping per
 * separator made a list of a million numbers cost ~30 ms; this loop a few.) Undefined when the
 * text ends first (malformed: JSON.parse will say so).
 */
const countItems = (text: string, from: number, seen: number): number | undefined => {
  let depth = 0
  let items = seen
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x2c) {
      if (depth === 0) items++
    } else if (c === 0x22) {
      i = closingQuote(text, i)
      if (i < 0) return undefined
    } else if (c === 0x5b || c === 0x7b) depth++
    else if (c === 0x5d || c === 0x7d) {
      if (depth === 0) return items
      depth--
    }
  }
  return undefined
}

/**
 * How deeply YAML flow collections (`[`, `{`) nest, stopping past `maxDepth`: true when exceeded.
 * Quoted scalars and comments are skipped; block nesting is bounded by the parsers themselves
 * (each level costs a line of indentation, so a 4 MiB document cannot go a million deep).
 */
export const yamlFlowTooDeep = (text: string, maxDepth: number): boolean => {
  let depth = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return true
    } else if (c === 0x5d || c === 0x7d) {
      if (depth > 0) depth--
    } else if ((c === 0x22 || c === 0x27) && opensScalar(text, i)) {
      // "..." (backslash escapes) or '...' ('' escapes): skip to the closing quote.
      let j = i + 1
      while (j < text.length) {
        const d = text.charCodeAt(j)
        if (c === 0x22 && d === 0x5c) j += 2
        else if (d === c) break
        else j++
      }
      i = j
    } else if (c === 0x23 /* # */ && (i === 0 || text.charCodeAt(i - 1) <= 0x20)) {
      const nl = text.indexOf("\n", i)
      i = nl < 0 ? text.length : nl
    }
  }
  return false
}

/** A quote starts a quoted scalar only where a scalar can start (not inside `don't`). */
const opensScalar = (text: string, at: number): boolean => {
  for (let k = at - 1; k >= 0; k--) {
    const p = text.charCodeAt(k)
    if (p === 0x20 || p === 0x09) continue
    return p === 0x0a || p === 0x0d || p === 0x5b || p === 0x7b || p === 0x2c || p === 0x3a || p === 0x2d || p === 0x3f
  }
  return true
}
