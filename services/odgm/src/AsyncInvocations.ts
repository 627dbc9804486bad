import { Clock, Context, Effect, Layer, Option, Schema } from "effect"
import { isObjectId, NotFound, Unavailable, ValidationError } from "@oprc/models"
import { CollectionRegistry, orUnavailable } from "./CollectionRegistry.ts"
import type { AsyncInvocation } from "./domain/events.ts"
import type { Caller, InvocationRequest, InvocationResult, InvocationStatus } from "./domain/types.ts"
import { type InvokeError, Invoker, routeFor } from "./Invoker.ts"
import { Outbox } from "./Outbox.ts"
import { ObjectStoreService } from "./storage/ObjectStore.ts"

/** What GetResult answers. `result` is set once the state is DONE. */
export interface AsyncResult {
  readonly invocationId: string
  readonly state: "PENDING" | "RUNNING" | "DONE"
  readonly result: (InvocationResult & { readonly code: string }) | undefined
  readonly expiresAt: number
}

/** The stored record (JSON; storage treats it as opaque). */
const Stored = Schema.Struct({
  state: Schema.Literals(["PENDING", "RUNNING", "DONE"]),
  expiresAt: Schema.Number,
  status: Schema.optionalKey(Schema.Literals(["OK", "INVALID", "APP_ERROR", "SYSTEM_ERROR"])),
  /** "ok", or the error code when ODGM could not complete the call (unavailable, deadline_exceeded, ...). */
  code: Schema.optionalKey(Schema.String),
  output: Schema.optionalKey(Schema.String),
  error: Schema.optionalKey(Schema.String),
  headers: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  objectVersion: Schema.optionalKey(Schema.String),
})
type Stored = typeof Stored.Type
const decodeStored = Schema.decodeUnknownOption(Stored)

const errorCode = (e: { readonly _tag: string }) => (e._tag === "VersionConflict" ? "aborted" : e._tag.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase())

/** What running a job decided: done (result stored) or worth another attempt later. */
export type JobOutcome = { readonly _tag: "Done" } | { readonly _tag: "Retry"; readonly error: string }

/**
 * Asynchronous invocations: InvokeAsync validates the call, records a PENDING result and the job in
 * the durable outbox, and returns the id; the dispatcher runs the job (`run`) and stores the result
 * for `resultTtlMs`; GetResult reads it, optionally waiting. A client-chosen id makes the submit
 * idempotent while its result is kept.
 */
export class AsyncInvocations extends Context.Service<AsyncInvocations, {
  readonly submit: (req: InvocationRequest, caller: Caller) => Effect.Effect<string, InvokeError>
  readonly get: (invocationId: string, waitMs: number) => Effect.Effect<AsyncResult, NotFound | Unavailable>
  readonly run: (job: AsyncInvocation, lastAttempt: boolean) => Effect.Effect<JobOutcome, Unavailable>
}>()("oprc/odgm/AsyncInvocations") {
  static readonly layer = (options: { readonly resultTtlMs: number }) =>
    Layer.effect(AsyncInvocations)(
      Effect.gen(function* () {
        const store = yield* ObjectStoreService
        const registry = yield* CollectionRegistry
        const invoker = yield* Invoker
        const outbox = yield* Outbox

        const put = (id: string, record: Omit<Stored, "expiresAt">) =>
          Effect.gen(function* () {
            const expiresAt = (yield* Clock.currentTimeMillis) + options.resultTtlMs
            yield* orUnavailable(store.putResult(id, { ...record, expiresAt }, options.resultTtlMs))
          })

        const read = (id: string) =>
          orUnavailable(store.getResult(id)).pipe(Effect.map((o) => Option.flatMap(o, decodeStored)))

        const toResult = (id: string, s: Stored): AsyncResult => ({
          invocationId: id,
          state: s.state,
          expiresAt: s.expiresAt,
          result: s.state !== "DONE"
            ? undefined
            : {
                invocationId: id,
                status: s.status ?? "SYSTEM_ERROR",
                code: s.code ?? "ok",
                output: new Uint8Array(Buffer.from(s.output ?? "", "base64")),
                error: s.error ?? "",
                headers: s.headers ?? {},
                objectVersion: s.objectVersion === undefined ? undefined : BigInt(s.objectVersion),
              },
        })

        const done = (id: string, status: InvocationStatus, code: string, r: Partial<InvocationResult>) =>
          put(id, {
            state: "DONE",
            status,
            code,
            output: Buffer.from(r.output ?? new Uint8Array()).toString("base64"),
            error: r.error ?? "",
            headers: { ...r.headers },
            ...(r.objectVersion === undefined ? {} : { objectVersion: r.objectVersion.toString() }),
          })

        return {
          submit: Effect.fn("AsyncInvocations.submit")(function* (req: InvocationRequest, caller: Caller) {
            // Refuse what would certainly fail now (unknown class/function, access), before accepting.
            const collection = yield* registry.get(req.cls)
            const route = yield* routeFor(collection, req.fn, caller)
            if (!route.stateless && !req.objectId) {
              return yield* ValidationError.single("objectId", `function ${req.cls}.${req.fn} is stateful: invoke it on an object id`)
            }
            if (req.invocationId !== undefined && !isObjectId(req.invocationId)) {
              return yield* ValidationError.single("invocationId", "use 1 to 160 characters of lowercase letters, digits, '.', '_', ':' and '-'")
            }
            const id = req.invocationId ?? (yield* outbox.newId("inv"))
            if (Option.isSome(yield* read(id))) return id
            yield* put(id, { state: "PENDING" })
            const job: AsyncInvocation = {
              kind: "invoke",
              invocationId: id,
              cls: req.cls,
              fn: req.fn,
              payload: Buffer.from(req.payload).toString("base64"),
              headers: { ...req.headers },
              internal: caller.internal,
              ...(req.partition === undefined ? {} : { partition: req.partition }),
              ...(req.objectId ? { objectId: req.objectId } : {}),
              ...(req.timeoutMs ? { timeoutMs: req.timeoutMs } : {}),
              ...(caller.callerClass === undefined ? {} : { callerClass: caller.callerClass }),
            }
            yield* outbox.enqueue(req.cls, [{ id: `async.${id}`, payload: job, availableAt: yield* Clock.currentTimeMillis }])
            return id
          }),

          get: Effect.fn("AsyncInvocations.get")(function* (invocationId: string, waitMs: number) {
            const until = (yield* Clock.currentTimeMillis) + Math.min(waitMs, 60_000)
            let delay = 10
            for (;;) {
              const found = yield* read(invocationId)
              if (Option.isNone(found)) return yield* new NotFound({ resource: "invocation", name: invocationId })
              const now = yield* Clock.currentTimeMillis
              if (found.value.state === "DONE" || now >= until) return toResult(invocationId, found.value)
              yield* Effect.sleep(Math.min(delay, until - now))
              delay = Math.min(delay * 2, 200)
            }
          }),

          run: Effect.fn("AsyncInvocations.run")(function* (job: AsyncInvocation, lastAttempt: boolean) {
            const existing = yield* read(job.invocationId)
            // Delivered before (a lease expired after the result was stored): do not run it twice.
            if (Option.isSome(existing) && existing.value.state === "DONE") return { _tag: "Done" } as const
            yield* put(job.invocationId, { state: "RUNNING" })
            const request: InvocationRequest = {
              cls: job.cls,
              partition: job.partition,
              objectId: job.objectId,
              fn: job.fn,
              payload: new Uint8Array(Buffer.from(job.payload, "base64")),
              headers: job.headers,
              timeoutMs: job.timeoutMs,
              invocationId: job.invocationId,
            }
            const exit = yield* Effect.result(invoker.invoke(request, { internal: job.internal, callerClass: job.callerClass }))
            if (exit._tag === "Success") {
              yield* done(job.invocationId, exit.success.status, "ok", exit.success)
              return { _tag: "Done" } as const
            }
            const e = exit.failure
            // The function was not reached: worth another attempt, unless this was the last.
            if (e._tag === "Unavailable" && !lastAttempt) return { _tag: "Retry", error: e.message } as const
            yield* done(job.invocationId, e._tag === "ValidationError" ? "INVALID" : "SYSTEM_ERROR", errorCode(e), { error: e.message })
            return { _tag: "Done" } as const
          }),
        }
      }),
    )
}
