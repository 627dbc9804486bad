import { Effect, Random } from "effect"
import { VersionConflict } from "@oprc/models"
import { partitionOf } from "../domain/partition.ts"
import type { ObjectRef, StoredObject, Value } from "../domain/types.ts"
import type { CommitRequest, OutboxEvent } from "./ObjectStore.ts"
import { StorageError } from "./errors.ts"

/** Shared by the engines so the CAS rule, the ordering and the wire format cannot drift apart. */

const refName = (ref: ObjectRef): string => `${ref.cls}/${ref.partition}/${ref.id}`

/**
 * The object that carries events and invocation records belonging to no object write (function
 * events of an invocation that changed nothing, accepted async jobs): committed as the deletion
 * of an id that cannot exist ("~" is not an object id character). One of 16 per class, chosen by
 * `key`: few enough that the tombstones an engine keeps (NATS KV) stay bounded, enough that
 * concurrent enqueues rarely race for one.
 */
export const invocationSlot = (cls: string, key: string): ObjectRef => ({
  cls,
  partition: 0,
  id: `~outbox~${partitionOf(key, 16)}`,
})

export const leaseOf = (leaseMs: number | ((event: OutboxEvent) => number), event: OutboxEvent): number =>
  typeof leaseMs === "number" ? leaseMs : leaseMs(event)

export type Decision =
  | { readonly _tag: "Conflict"; readonly error: VersionConflict }
  | { readonly _tag: "Apply"; readonly stored: StoredObject | null }

/** The one compare-and-swap rule (see `CommitRequest.expectedVersion`). */
/** What a commit needs to know of the current object: its version and when it was created. */
export type ObjectHead = Pick<StoredObject, "version" | "createdAt">

export const decide = (current: ObjectHead | undefined, req: CommitRequest, now: number): Decision => {
  const actual = current?.version ?? 0n
  const expected = req.expectedVersion
  if (expected !== undefined && expected !== actual) {
    return {
      _tag: "Conflict",
      error: new VersionConflict({
        resource: "object",
        name: refName(req.ref),
        expected: String(expected),
        actual: String(actual),
      }),
    }
  }
  if (req.next === null) return { _tag: "Apply", stored: null }
  return {
    _tag: "Apply",
    stored: {
      cls: req.ref.cls,
      partition: req.ref.partition,
      id: req.ref.id,
      version: actual + 1n,
      entries: req.next.entries,
      triggers: req.next.triggers,
      createdAt: current?.createdAt ?? now,
      updatedAt: now,
    },
  }
}

const utf8 = new TextEncoder()
/** Ids order as UTF-8 bytes (SQLite's BINARY collation), not as UTF-16 code units. */
export const compareIds = (a: string, b: string): number => Buffer.compare(utf8.encode(a), utf8.encode(b))
export const compareKeys = (a: { partition: number; id: string }, b: { partition: number; id: string }): number =>
  a.partition - b.partition || compareIds(a.id, b.id)

/**
 * The smallest string greater than every string that starts with `prefix` (in code point order,
 * which is UTF-8 byte order), or undefined when there is none (empty prefix). Turns a prefix
 * match into an index range: prefix <= id < prefixEnd(prefix).
 */
export const prefixEnd = (prefix: string): string | undefined => {
  const points = [...prefix]
  while (points.length > 0) {
    const last = points.pop()!.codePointAt(0)!
    if (last < 0x10ffff) {
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1 // skip the surrogate range
      return points.join("") + String.fromCodePoint(next)
    }
  }
  return undefined
}

export interface Position {
  readonly partition: number
  readonly id: string
}
export const encodeCursor = (p: Position): string =>
  Buffer.from(JSON.stringify([p.partition, p.id])).toString("base64url")
export const decodeCursor = (
  operation: string,
  cursor: string | undefined,
): Effect.Effect<Position | undefined, StorageError> => {
  if (cursor === undefined) return Effect.succeed(undefined)
  return Effect.try({
    try: () => {
      const parsed: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"))
      if (Array.isArray(parsed) && typeof parsed[0] === "number" && typeof parsed[1] === "string") {
        return { partition: parsed[0], id: parsed[1] }
      }
      throw new Error("malformed cursor")
    },
    catch: (cause) => new StorageError({ operation, reason: "invalid cursor", retryable: false, cause }),
  })
}

/** Persisted form of an object (SQLite column, NATS KV value): JSON with bytes in base64. */
export interface ObjectJson {
  readonly v: string
  readonly e: Record<string, { readonly j: unknown } | { readonly b: string }>
  readonly t: ReadonlyArray<unknown>
  readonly c: number
  readonly u: number
}

export const toJson = (o: StoredObject): ObjectJson => {
  const e: Record<string, { j: unknown } | { b: string }> = {}
  for (const [k, v] of Object.entries(o.entries)) {
    e[k] = v._tag === "Json"
      ? { j: v.value }
      : { b: Buffer.from(v.value).toString("base64") }
  }
  return { v: o.version.toString(), e, t: o.triggers, c: o.createdAt, u: o.updatedAt }
}

export const fromJson = (ref: ObjectRef, j: ObjectJson): StoredObject => {
  const entries: Record<string, Value> = {}
  for (const k of Object.keys(j.e)) {
    const v = j.e[k]!
    entries[k] = "b" in v
      ? { _tag: "Bytes", value: new Uint8Array(Buffer.from(v.b, "base64")) }
      : { _tag: "Json", value: v.j }
  }
  return {
    cls: ref.cls,
    partition: ref.partition,
    id: ref.id,
    version: BigInt(j.v),
    entries,
    triggers: j.t,
    createdAt: j.c,
    updatedAt: j.u,
  }
}

/**
 * A JSON value's deep copy through its text: 3-4x quicker than structuredClone in Bun for nested
 * state (1024 entries 30 deep: 2.7 vs 9.6 ms), which the memory engine pays on every read and
 * write. Anything JSON cannot carry falls back to structuredClone.
 */
const cloneJson = (u: unknown): unknown => {
  if (u === null || typeof u !== "object") return u
  try {
    return JSON.parse(JSON.stringify(u))
  } catch {
    return structuredClone(u)
  }
}

const cloneValue = (v: Value): Value =>
  v._tag === "Bytes" ? { _tag: "Bytes", value: v.value.slice() } : { _tag: "Json", value: cloneJson(v.value) }

/** Deep copy so a caller mutating what it passed or got back cannot change stored state. */
export const cloneObject = (o: StoredObject): StoredObject => {
  const entries: Record<string, Value> = {}
  for (const [k, v] of Object.entries(o.entries)) entries[k] = cloneValue(v)
  return { ...o, entries, triggers: structuredClone(o.triggers) }
}
export const cloneEvent = (e: OutboxEvent): OutboxEvent => structuredClone(e)

export const validateLimit = (operation: string, limit: number): Effect.Effect<number, StorageError> =>
  Number.isInteger(limit) && limit >= 1 && limit <= 1000
    ? Effect.succeed(limit)
    : Effect.fail(
      new StorageError({ operation, reason: `limit must be an integer in 1..1000, got ${limit}`, retryable: false }),
    )

/** A lease id; from Effect's Random so tests can seed it. */
export const newToken: Effect.Effect<string> = Effect.map(
  Effect.all([Random.nextIntBetween(0, 2 ** 31), Random.nextIntBetween(0, 2 ** 31)]),
  ([a, b]) => `${a.toString(36)}${b.toString(36)}`,
)

export const storageError = (operation: string, retryable = false) => (cause: unknown) =>
  new StorageError({ operation, reason: cause instanceof Error ? cause.message : String(cause), retryable, cause })
