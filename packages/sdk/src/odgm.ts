import { Code, ConnectError, createClient } from "@connectrpc/connect"
import { CALLER_TOKEN_HEADER, connectFetchTransport, INTERNAL_TOKEN_HEADER } from "@oprc/rpc"
import { protoEnum } from "@oprc/models"
import type { functionv1 } from "@oprc/proto"
import { odgmv1 } from "@oprc/proto"
import { entriesFromProto, entryToProto, type EntryValue } from "./state.ts"

export interface ObjectSnapshot {
  readonly id: string
  readonly partition: number
  readonly version: bigint
  readonly entries: Readonly<Record<string, EntryValue>>
}

export interface InvokeResult {
  readonly status: "OK" | "INVALID" | "APP_ERROR" | "SYSTEM_ERROR"
  /** The output parsed as JSON when it is JSON, else the raw bytes. */
  readonly output: unknown
  readonly error: string
}

/** ODGM's object and invocation APIs, for functions that touch other objects (URL from `ODGM_URL`). */
export interface OdgmClient {
  readonly get: (cls: string, id: string) => Promise<ObjectSnapshot | undefined>
  /** Sets the given entries, keeping the others; creates the object when absent. */
  readonly merge: (
    cls: string,
    id: string,
    entries: Readonly<Record<string, EntryValue>>,
    expectedVersion?: bigint,
  ) => Promise<ObjectSnapshot>
  /** Invokes `fn` on object `id`, or on the class when `id` is undefined (stateless). */
  readonly invoke: (cls: string, id: string | undefined, fn: string, payload?: unknown) => Promise<InvokeResult>
}

// A status this build does not know is reported as the platform failing, never as success.
const statusName = (s: functionv1.InvocationStatus): InvokeResult["status"] =>
  protoEnum.invocationStatus.literalOr(s, "SYSTEM_ERROR")

const snapshot = (o: odgmv1.Object$): ObjectSnapshot => ({
  id: o.id,
  partition: o.partition,
  version: o.version,
  entries: entriesFromProto(o.entries),
})

/**
 * `internalToken` opens INTERNAL functions; `callerToken` (the class credential the CRM hands to a
 * class's processes in OPRC_CALLER_TOKEN) also opens the class's PRIVATE functions: ODGM reads the
 * caller's class from it, not from anything the caller could simply claim.
 */
export const makeOdgmClient = (
  options: { readonly baseUrl: string; readonly internalToken?: string; readonly callerToken?: string },
): OdgmClient => {
  const transport = connectFetchTransport(options.baseUrl)
  const headers: Record<string, string> = {}
  if (options.internalToken) headers[INTERNAL_TOKEN_HEADER] = options.internalToken
  if (options.callerToken) headers[CALLER_TOKEN_HEADER] = options.callerToken
  const objects = createClient(odgmv1.ObjectService, transport)
  const invocations = createClient(odgmv1.InvocationService, transport)
  const utf8 = new TextEncoder()
  return {
    get: async (cls, id) => {
      try {
        const r = await objects.getObject({ cls, id }, { headers })
        return r.object ? snapshot(r.object) : undefined
      } catch (e) {
        if (e instanceof ConnectError && e.code === Code.NotFound) return undefined
        throw e
      }
    },
    merge: async (cls, id, entries, expectedVersion) => {
      const set = Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, entryToProto(v)]))
      const r = await objects.mergeObject({
        cls,
        id,
        entries: set,
        ...(expectedVersion === undefined ? {} : { expectedVersion }),
      }, { headers })
      if (!r.object) throw new Error("ODGM returned no object")
      return snapshot(r.object)
    },
    invoke: async (cls, id, fn, payload) => {
      const r = await invocations.invoke(
        {
          cls,
          objectId: id ?? "",
          function: fn,
          payload: payload === undefined ? new Uint8Array() : utf8.encode(JSON.stringify(payload)),
        },
        { headers },
      )
      const raw = new TextDecoder().decode(r.output)
      let output: unknown = r.output
      try {
        output = raw === "" ? undefined : JSON.parse(raw)
      } catch {
        // not JSON: keep the bytes
      }
      return { status: statusName(r.status), output, error: r.error }
    },
  }
}
