import { Effect } from "effect"
import type { FieldViolation } from "./errors"
import { formatPath, MAX_VIOLATIONS } from "./issues"

/**
 * A cheap pre-pass over raw input (parsed JSON/YAML, a proto converted to plain values) that
 * bounds the work of everything after it: it runs before Schema decoding, walks the value
 * without recursion, and refuses a list or map longer than its limit *without looking inside
 * it*, so 1 M tags cost one violation instead of a million decodes.
 */

export { MAX_VIOLATIONS }

/**
 * Inputs of this many bytes or more are large: a server works on them one request at a time
 * (the heavy lane in @oprc/rpc) and in steps (`stepIfLarge`). 64 KiB is a package or object of a
 * few thousand values, a few ms of work.
 */
export const LARGE_INPUT_BYTES = 64 * 1024

/**
 * A turn of the event loop between two steps of work on an input of `bytes`, when it is large, so
 * a request waiting behind it (a health probe crosses the server's front in three turns) is held
 * for one step, not the sum. Nothing for a small input.
 */
export const stepIfLarge = (bytes: number): Effect.Effect<void> =>
  bytes >= LARGE_INPUT_BYTES ? Effect.yieldNow : Effect.void

export interface ShapeLimits {
  /** Containers nested deeper than this are refused (the root object is depth 1). */
  readonly maxDepth: number
  /** Items of any list, or keys of any map, not named in `items`. */
  readonly maxItems: number
  /** Per list or map, by path pattern: indexes become `[]`, e.g. `classes[].bindings`, `metadata.tags`. */
  readonly items: Readonly<Record<string, number>>
  /** Characters of any string value. */
  readonly maxStringLength: number
  /** Characters of any object key. */
  readonly maxKeyLength: number
  /** Values (containers and scalars) in the whole input. */
  readonly maxNodes: number
}

/** Collects violations, keeping the first `max` and counting the rest. */
export class Violations {
  readonly list: Array<FieldViolation> = []
  omitted = 0
  constructor(readonly max: number = MAX_VIOLATIONS) {}
  add(path: string, message: string): void {
    if (this.list.length < this.max) this.list.push({ path, message })
    else this.omitted++
  }
  get size(): number {
    return this.list.length + this.omitted
  }
}

interface Frame {
  readonly value: object
  readonly depth: number
  /**
   * The frame's path pattern (`classes[].bindings`) where it can be named without building it:
   * "" at the root, the key itself one level below a "" pattern, a key of `limits.items` matched
   * in full. Anywhere else the pattern holds a "." or "[]" and is no key of `items` (own, nor
   * inherited from Object.prototype), so `items[pattern]` would be undefined: the default applies.
   */
  readonly pattern: string | undefined
  /** The pattern's length, whether or not it is named. */
  readonly length: number
  /** The keys of `limits.items` the pattern is a prefix of, if any. */
  readonly candidates: ReadonlyArray<string> | undefined
  readonly key: PropertyKey | undefined
  readonly parent: Frame | undefined
}

const keysOf = (frame: Frame | undefined, last?: PropertyKey): Array<PropertyKey> => {
  const keys: Array<PropertyKey> = last === undefined ? [] : [last]
  for (let f = frame; f !== undefined && f.key !== undefined; f = f.parent) keys.push(f.key)
  return keys.reverse()
}

const isContainer = (u: unknown): u is object => u !== null && typeof u === "object" && !(u instanceof Uint8Array)

/**
 * The candidates a child at `key` keeps: those its pattern (the parent's, `length` characters
 * long, then `[]` for an index, or `.key`, or just `key` after a "" pattern) is still a prefix of.
 * Compared in place: building the pattern of every container (~all of which no limit names) was
 * the larger part of the walk's cost.
 */
const narrow = (candidates: ReadonlyArray<string>, length: number, key: string | number): Array<string> | undefined => {
  let out: Array<string> | undefined
  for (const c of candidates) {
    const kept = typeof key === "number"
      ? c.startsWith("[]", length)
      : length === 0
      ? c.startsWith(key)
      : c.charCodeAt(length) === 0x2e /* . */ && c.startsWith(key, length + 1)
    if (kept) (out ??= []).push(c)
  }
  return out
}

/** The candidate that is the whole pattern, `length` characters long. */
const complete = (candidates: ReadonlyArray<string> | undefined, length: number): string | undefined => {
  if (candidates !== undefined) { for (const c of candidates) if (c.length === length) return c }
  return undefined
}

const preview = (key: string): string => JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}...` : key)

/**
 * Checks `input` against `limits`, adding what it finds to `out` (paths under `prefix`). Cost is
 * linear in the part of the input within the limits: nothing over a limit is descended into.
 */
export const checkShape = (
  input: unknown,
  limits: ShapeLimits,
  out: Violations,
  prefix: ReadonlyArray<PropertyKey> = [],
): void => {
  const at = (frame: Frame | undefined, last?: PropertyKey) => formatPath([...prefix, ...keysOf(frame, last)])
  const scalar = (value: unknown, frame: Frame | undefined, key: PropertyKey | undefined): void => {
    if (typeof value === "string" && value.length > limits.maxStringLength) {
      out.add(at(frame, key), `is ${value.length} characters long; at most ${limits.maxStringLength} are allowed`)
    }
  }
  if (!isContainer(input)) return scalar(input, undefined, undefined)
  let nodes = 1
  const itemKeys = Object.keys(limits.items)
  const stack: Array<Frame> = [{
    value: input,
    depth: 1,
    pattern: "",
    length: 0,
    candidates: itemKeys.length === 0 ? undefined : itemKeys,
    key: undefined,
    parent: undefined,
  }]
  while (stack.length > 0) {
    const frame = stack.pop()!
    if (frame.depth > limits.maxDepth) {
      out.add(at(frame), `is nested deeper than ${limits.maxDepth} levels`)
      continue
    }
    const v = frame.value
    const isList = Array.isArray(v)
    const keys = isList ? undefined : Object.keys(v)
    const count = isList ? v.length : keys!.length
    const limit = frame.pattern === undefined ? limits.maxItems : (limits.items[frame.pattern] ?? limits.maxItems)
    if (count > limit) {
      out.add(at(frame), `has ${count} ${isList ? "items" : "entries"}; at most ${limit} are allowed`)
      continue
    }
    nodes += count
    if (nodes > limits.maxNodes) {
      out.add(formatPath(prefix), `has more than ${limits.maxNodes} values in all; split it up`)
      return
    }
    const first = stack.length
    for (let i = 0; i < count; i++) {
      const key: string | number = isList ? i : keys![i]!
      if (typeof key === "string" && key.length > limits.maxKeyLength) {
        out.add(
          at(frame),
          `key ${preview(key)} is ${key.length} characters long; at most ${limits.maxKeyLength} are allowed`,
        )
        continue
      }
      const child: unknown = (v as Record<string | number, unknown>)[key]
      if (isContainer(child)) {
        const length = typeof key === "number"
          ? frame.length + 2
          : frame.length === 0
          ? key.length
          : frame.length + 1 + key.length
        const candidates = frame.candidates === undefined ? undefined : narrow(frame.candidates, frame.length, key)
        stack.push({
          value: child,
          depth: frame.depth + 1,
          // Below a "" pattern the child's is its key, free to name; deeper, only a full match is.
          pattern: frame.length === 0 ? (typeof key === "number" ? "[]" : key) : complete(candidates, length),
          length,
          candidates,
          key,
          parent: frame,
        })
      } else {
        scalar(child, frame, key)
      }
    }
    // This frame's containers went onto the stack in document order: reversed there (no array
    // per frame), they are popped in document order, so nested violations come out in it too.
    for (let i = first, j = stack.length - 1; i < j; i++, j--) {
      const t = stack[i]!
      stack[i] = stack[j]!
      stack[j] = t
    }
  }
}
