import type { MessageInitShape } from "@bufbuild/protobuf"
import { functionv1 } from "@oprc/proto"
import { Cause, Effect, Exit, type Schema } from "effect"
import { type AnyFn, AppError, type ClassDef, InvalidInput, type StateSchema } from "./define.ts"
import type { OdgmClient } from "./odgm.ts"
import { decodeWith, diffState, encodeWith, entriesFromProto, entryToProto, loadState } from "./state.ts"

interface Response {
  readonly status: functionv1.InvocationStatus
  readonly error?: string
  readonly output?: Uint8Array
  readonly headers?: Record<string, string>
  readonly state?: MessageInitShape<typeof functionv1.StateChangesSchema>
}

const { InvocationStatus } = functionv1
const utf8 = new TextEncoder()
const text = new TextDecoder()

const answer = (status: functionv1.InvocationStatus, error: string, output?: unknown): Response => ({
  status,
  error,
  ...(output === undefined
    ? {}
    : { output: utf8.encode(JSON.stringify(output)), headers: { "content-type": "application/json" } }),
})
const invalid = (message: string) => answer(InvocationStatus.INVALID, message)

const decodePayload = (
  schema: Schema.Top | undefined,
  payload: Uint8Array,
): { ok: true; value: unknown } | { ok: false; message: string } => {
  const raw = text.decode(payload).trim()
  let json: unknown = undefined
  if (raw !== "") {
    try {
      json = JSON.parse(raw)
    } catch (e) {
      return { ok: false, message: `payload is not JSON: ${e instanceof Error ? e.message : String(e)}` }
    }
  }
  if (schema === undefined) return { ok: true, value: json }
  const decoded = decodeWith(schema as Schema.Codec<unknown, unknown, never, never>, json ?? {})
  return decoded.ok ? decoded : { ok: false, message: `payload: ${decoded.message}` }
}

type Settled = { ok: true; value: unknown } | { ok: false; error: unknown }

const fromExit = (exit: Exit.Exit<unknown, unknown>): Settled =>
  Exit.isSuccess(exit) ? { ok: true, value: exit.value } : { ok: false, error: Cause.squash(exit.cause) }

/** A handler's value, or the outcome of the Effect it returned (at once when the Effect does not wait). */
const settleValue = (result: unknown): Settled | Promise<Settled> => {
  if (!Effect.isEffect(result)) return { ok: true, value: result }
  const fiber = Effect.runFork(result as Effect.Effect<unknown, unknown>)
  const now = fiber.pollUnsafe()
  if (now !== undefined) return fromExit(now)
  return new Promise((resolve) => fiber.addObserver((exit) => resolve(fromExit(exit))))
}

/**
 * Runs a handler (its result a value, a Promise or an Effect); a throw or failure becomes
 * `{ error }`. A handler that does not wait is settled at once, without a promise: the server
 * then answers in the same turn, and a call that waits for nothing needs no abort signal or
 * deadline timer (bench/odgm's no-op function).
 */
const settle = (run: () => unknown): Settled | Promise<Settled> => {
  let result: unknown
  try {
    result = run()
  } catch (error) {
    return { ok: false, error }
  }
  // (As `await` would: any thenable is waited for, then what it gives may be an Effect.)
  if (typeof (result as { then?: unknown } | null)?.then === "function") {
    return Promise.resolve(result).then(settleValue, (error: unknown): Settled => ({ ok: false, error }))
  }
  try {
    return settleValue(result)
  } catch (error) {
    return { ok: false, error }
  }
}

/** `f` of `a`, after `a` settles when it is a promise. */
const andThen = <A, B>(a: A | Promise<A>, f: (a: A) => B): B | Promise<B> => a instanceof Promise ? a.then(f) : f(a)

const failureResponse = (error: unknown): Response => {
  if (error instanceof InvalidInput) return invalid(error.message)
  if (error instanceof AppError) return answer(InvocationStatus.APP_ERROR, error.message, error.data)
  // Any other throw is still the application's failure, not the platform's.
  return answer(InvocationStatus.APP_ERROR, error instanceof Error ? error.message : String(error))
}

const encodeOutput = (f: AnyFn<never>, value: unknown): Response => {
  if (value === undefined) return { status: InvocationStatus.OK }
  if (value instanceof Uint8Array) {
    return { status: InvocationStatus.OK, output: value, headers: { "content-type": "application/octet-stream" } }
  }
  const schema = f.spec.output as Schema.Codec<unknown, unknown, never, never> | undefined
  const encoded = schema === undefined ? { ok: true as const, value } : encodeWith(schema, value)
  if (!encoded.ok) return answer(InvocationStatus.APP_ERROR, `output does not match its schema: ${encoded.message}`)
  return answer(InvocationStatus.OK, "", encoded.value)
}

/**
 * Answers one FunctionService.Invoke for a class definition: at once when the function does not
 * wait, else a promise. Never throws (nor rejects).
 */
export const makeInvoke =
  <S extends StateSchema>(def: ClassDef<S>, odgm: OdgmClient | undefined) =>
  (req: functionv1.InvokeRequest): Response | Promise<Response> => {
    const f = def.functions[req.function]
    if (f === undefined) {
      return invalid(`unknown function "${req.function}" (this server has: ${Object.keys(def.functions).join(", ")})`)
    }
    const payload = decodePayload(f.spec.payload, req.payload)
    if (!payload.ok) return invalid(payload.message)
    const base = {
      payload: payload.value,
      invocationId: req.invocationId,
      cls: req.cls,
      fn: req.function,
      headers: req.headers,
      odgm,
    }

    if (f._tag === "Stateless") {
      return andThen(
        settle(() => f.handler(base)),
        (result) => result.ok ? encodeOutput(f, result.value) : failureResponse(result.error),
      )
    }

    const obj = req.object
    if (obj === undefined) {
      return invalid(`function "${req.function}" is stateful and needs an object; invoke it on an object id`)
    }
    const loaded = loadState(def.state, entriesFromProto(obj.entries))
    if (!loaded.ok) return invalid(loaded.message)
    let deleteObject = false
    const state = loaded.value.state as S["Type"]
    const settled = settle(() =>
      f.handler({
        ...base,
        state,
        object: { id: obj.id, partition: obj.partition, version: obj.version, exists: obj.exists },
        deleteObject: () => {
          deleteObject = true
        },
      })
    )
    return andThen(settled, (result): Response => {
      if (!result.ok) return failureResponse(result.error)
      const response = encodeOutput(f, result.value)
      if (response.status !== InvocationStatus.OK) return response
      if (deleteObject) return { ...response, state: { deleteObject: true } }
      const changes = diffState(def.state, loaded.value, state)
      if (!changes.ok) return answer(InvocationStatus.APP_ERROR, changes.message)
      const set: Record<string, ReturnType<typeof entryToProto>> = {}
      for (const [k, v] of Object.entries(changes.value.set)) set[k] = entryToProto(v)
      if (Object.keys(set).length === 0 && changes.value.delete.length === 0) return response
      return { ...response, state: { set, delete: [...changes.value.delete] } }
    })
  }
