import type { InvocationStatus } from "@oprc/models"

/**
 * The domain types ODGM's services speak (proto types stay in src/rpc, JSON shapes in src/rest).
 * The object model is defined here and the storage engines (src/storage) implement it.
 */

/** An entry value: JSON, or raw bytes. */
export type Value =
  | { readonly _tag: "Json"; readonly value: unknown }
  | { readonly _tag: "Bytes"; readonly value: Uint8Array }

export interface ObjectRef {
  readonly cls: string
  readonly partition: number
  /** Non-empty; the gateway validates it (`isObjectId` in @oprc/models). */
  readonly id: string
}

/** What a writer supplies; a `StoredObject` is assignable to it. */
export interface ObjectState {
  readonly entries: Entries
  /** Per-object trigger specs: opaque JSON to storage. */
  readonly triggers: ReadonlyArray<unknown>
}

export interface StoredObject extends ObjectRef, ObjectState {
  /** 1 on create, +1 per commit. */
  readonly version: bigint
  /** Epoch ms. */
  readonly createdAt: number
  readonly updatedAt: number
}

export type Entries = Readonly<Record<string, Value>>

/** An object address as a caller gives it: the partition may be left to ODGM (hash of the id). */
export interface ObjectAddress {
  readonly cls: string
  /** `undefined`: hash(id) mod partition count. */
  readonly partition: number | undefined
  readonly id: string
}

/** Who is calling, for access modifiers: outside callers, or functions with the internal credential. */
export interface Caller {
  /** Presented the platform's internal token (functions, and ODGM's own trigger deliveries). */
  readonly internal: boolean
  /** The calling function's class, trusted only when `internal`. */
  readonly callerClass: string | undefined
}

export const external: Caller = { internal: false, callerClass: undefined }
/** How an invocation ended: the platform's one list (@oprc/models). */
export type { InvocationStatus }

export const internalCaller = (cls: string): Caller => ({ internal: true, callerClass: cls })

export interface InvocationRequest {
  readonly cls: string
  readonly partition: number | undefined
  /** `undefined`: a stateless invocation. */
  readonly objectId: string | undefined
  readonly fn: string
  readonly payload: Uint8Array
  readonly headers: Readonly<Record<string, string>>
  /** `undefined`: the route's timeout, else the server default. */
  readonly timeoutMs: number | undefined
  /** Given by async invocations and trigger deliveries (the event id), else generated. */
  readonly invocationId: string | undefined
}

export interface InvocationResult {
  readonly invocationId: string
  readonly status: InvocationStatus
  readonly output: Uint8Array
  readonly error: string
  readonly headers: Readonly<Record<string, string>>
  /** The object's version after the invocation (stateful only; unchanged when nothing was written). */
  readonly objectVersion: bigint | undefined
}

/** One page of objects. */
export interface ObjectPage {
  readonly items: ReadonlyArray<StoredObject>
  readonly nextCursor: string | undefined
}
