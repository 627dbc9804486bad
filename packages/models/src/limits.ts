/**
 * Nesting depth of already parsed values (JSON, YAML, object entries), measured without recursion
 * so a value nested 100 k levels deep is refused instead of overflowing the stack.
 *
 * Depth counts containers: a scalar is 0, `[]` and `{}` are 1, `{"a": [1]}` is 2. Bytes
 * (Uint8Array) count as scalars.
 */

/** The default maximum nesting depth: common protobuf runtimes (Python: recursion limit 100) can take it. */
export const DEFAULT_MAX_DEPTH = 32

interface Frame {
  readonly value: unknown
  readonly depth: number
  readonly key: PropertyKey | undefined
  readonly parent: Frame | undefined
}

const isContainer = (u: unknown): u is object => u !== null && typeof u === "object" && !(u instanceof Uint8Array)

const pathOf = (frame: Frame): Array<PropertyKey> => {
  const out: Array<PropertyKey> = []
  for (let f: Frame | undefined = frame; f !== undefined && f.key !== undefined; f = f.parent) out.push(f.key)
  return out.reverse()
}

/**
 * The path (keys and indexes, from the root) of the first container deeper than `maxDepth`, or
 * undefined when `value` is within it. Stops at the first finding; never descends below
 * `maxDepth + 1`, so the work is bounded by the value's size within that depth.
 */
export const depthExceeded = (value: unknown, maxDepth: number): ReadonlyArray<PropertyKey> | undefined => {
  if (!isContainer(value)) return undefined
  const stack: Array<Frame> = [{ value, depth: 1, key: undefined, parent: undefined }]
  while (stack.length > 0) {
    const frame = stack.pop()!
    if (frame.depth > maxDepth) return pathOf(frame)
    const v = frame.value as object
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) {
        const child: unknown = v[i]
        if (isContainer(child)) stack.push({ value: child, depth: frame.depth + 1, key: i, parent: frame })
      }
    } else {
      for (const key of Object.keys(v)) {
        const child: unknown = (v as Record<string, unknown>)[key]
        if (isContainer(child)) stack.push({ value: child, depth: frame.depth + 1, key, parent: frame })
      }
    }
  }
  return undefined
}

/** The nesting depth of `value`, counting at most up to `cap + 1` (for messages: "nested N levels"). */
export const depthOf = (value: unknown, cap: number): number => {
  if (!isContainer(value)) return 0
  let deepest = 0
  const stack: Array<readonly [unknown, number]> = [[value, 1]]
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!
    if (depth > deepest) deepest = depth
    if (depth > cap) continue
    for (const child of Array.isArray(v) ? v : Object.values(v as object)) {
      if (isContainer(child)) stack.push([child, depth + 1])
    }
  }
  return deepest
}
