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
  readonly pattern: string
  readonly key: PropertyKey | undefined
  readonly parent: Frame | undefined
}

const keysOf = (frame: Frame | undefined, last?: PropertyKey): Array<PropertyKey> => {
  const keys: Array<PropertyKey> = last === undefined ? [] : [last]
  for (let f = frame; f !== undefined && f.key !== undefined; f = f.parent) keys.push(f.key)
  return keys.reverse()
}

const isContainer = (u: unknown): u is object => u !== null && typeof u === "object" && !(u instanceof Uint8Array)

const childPattern = (parent: string, key: string | number): string =>
  typeof key === "number" ? `${parent}[]` : parent === "" ? key : `${parent}.${key}`

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
  const stack: Array<Frame> = [{ value: input, depth: 1, pattern: "", key: undefined, parent: undefined }]
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
    const limit = limits.items[frame.pattern] ?? limits.maxItems
    if (count > limit) {
      out.add(at(frame), `has ${count} ${isList ? "items" : "entries"}; at most ${limit} are allowed`)
      continue
    }
    nodes += count
    if (nodes > limits.maxNodes) {
      out.add(formatPath(prefix), `has more than ${limits.maxNodes} values in all; split it up`)
      return
    }
    const containers: Array<Frame> = []
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
        containers.push({
          value: child,
          depth: frame.depth + 1,
          pattern: childPattern(frame.pattern, key),
          key,
          parent: frame,
        })
      } else {
        scalar(child, frame, key)
      }
    }
    // Reversed onto the stack, so nested violations come out in document order too.
    for (let i = containers.length - 1; i >= 0; i--) stack.push(containers[i]!)
  }
}
