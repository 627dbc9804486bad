import { Clock, Context, Effect, Layer, Option } from "effect"
import {
  FailedPrecondition,
  isObjectId,
  NotFound,
  orUnavailable,
  type Unavailable,
  ValidationError,
} from "@oprc/models"
import { tracedFn } from "@oprc/observability"
import { CollectionRegistry } from "../collections/CollectionRegistry.ts"
import type { AsyncInvocation } from "../domain/events.ts"
import { decodeRecord, doneRecord, fingerprint, type InvocationRecord, recordedResult } from "../domain/records.ts"
import type { Caller, InvocationRequest, InvocationResult, InvocationStatus } from "../domain/types.ts"
import { type InvokeError, Invoker, routeFor } from "./Invoker.ts"
import { Outbox } from "../events/Outbox.ts"
import { ObjectStoreService } from "../storage/ObjectStore.ts"

/** What GetResult answers. `result` is set once the state is DONE. */
export interface AsyncResult {
  readonly invocationId: string
  readonly state: "PENDING" | "RUNNING" | "DONE"
  readonly result: (InvocationResult & { readonly code: string }) | undefined
  readonly expiresAt: number
}

const errorCode = (
  e: { readonly _tag: string },
) => (e._tag === "VersionConflict" ? "aborted" : e._tag.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase())

/** What running a job decided: done (result stored) or worth another attempt later. */
export type JobOutcome = { readonly _tag: "Done" } | { readonly _tag: "Retry"; readonly error: string }

/**
 * Asynchronous invocations: InvokeAsync validates the call and commits the PENDING record and the
 * job to the durable outbox in one write, and returns the id; the dispatcher runs the job (`run`)
 * through the Invoker with the job's id, so the DONE record is committed with the state change
 * and a job run twice (a lease expired after the commit) applies once; GetResult reads it,
 * optionally waiting. A client-chosen id makes the submit idempotent while its record is kept: a
 * re-submit of an unfinished id enqueues its job again (a job still queued is not doubled: the
 * outbox keeps one event per id), the same id with another request is FAILED_PRECONDITION (409).
 */
export class AsyncInvocations extends Context.Service<AsyncInvocations, {
  readonly submit: (req: InvocationRequest, caller: Caller) => Effect.Effect<string, InvokeError>
  readonly get: (invocationId: string, waitMs: number) => Effect.Effect<AsyncResult, NotFound | Unavailable>
  readonly run: (job: AsyncInvocation, lastAttempt: boolean) => Effect.Effect<JobOutcome, Unavailable>
}>()("oprc/odgm/AsyncInvocations") {
  static readonly layer = (options: { readonly resultTtlMs: number }) =>
    Layer.effect(AsyncInvocations)(
      Effect.gen(function*() {
        const store = yield* ObjectStoreService
        const registry = yield* CollectionRegistry
        const invoker = yield* Invoker
        const outbox = yield* Outbox

        const put = (id: string, record: Omit<InvocationRecord, "expiresAt">, final: boolean) =>
          Effect.gen(function*() {
            const expiresAt = (yield* Clock.currentTimeMillis) + options.resultTtlMs
            yield* orUnavailable(store.putResult(id, { ...record, expiresAt }, options.resultTtlMs, final))
          })

        const read = (id: string) =>
          orUnavailable(store.getResult(id)).pipe(Effect.map((o) => Option.flatMap(o, decodeRecord)))

        const toResult = (id: string, s: InvocationRecord): AsyncResult => ({
          invocationId: id,
          state: s.state,
          expiresAt: s.expiresAt,
          result: s.state !== "DONE" ? undefined : recordedResult(id, s),
        })

        const done = (id: string, fp: string, status: InvocationStatus, code: string, r: Partial<InvocationResult>) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            put(id, doneRecord(fp, status, code, r, now + options.resultTtlMs), true))

        const requestOf = (job: AsyncInvocation): InvocationRequest => ({
          cls: job.cls,
          partition: job.partition,
          objectId: job.objectId,
          fn: job.fn,
          payload: new Uint8Array(Buffer.from(job.payload, "base64")),
          headers: job.headers,
          timeoutMs: job.timeoutMs,
          invocationId: job.invocationId,
        })

        return {
          submit: tracedFn("AsyncInvocations.submit")(function*(req: InvocationRequest, caller: Caller) {
            // Refuse what would certainly fail now (unknown class/function, access), before accepting.
            const collection = yield* registry.get(req.cls)
            const route = yield* routeFor(collection, req.fn, caller)
            if (!route.stateless && !req.objectId) {
              return yield* ValidationError.single(
                "objectId",
                `function ${req.cls}.${req.fn} is stateful: invoke it on an object id`,
              )
            }
            if (req.invocationId !== undefined && !isObjectId(req.invocationId)) {
              return yield* ValidationError.single(
                "invocationId",
                "use 1 to 160 characters of lowercase letters, digits, '.', '_', ':' and '-'",
              )
            }
            const id = req.invocationId ?? (yield* outbox.newId("inv"))
            const fp = fingerprint(req)
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
            const now = yield* Clock.currentTimeMillis
            const event = { id: `async.${id}`, payload: job, availableAt: now }
            const known = yield* read(id)
            if (Option.isSome(known)) {
              if (known.value.fp !== undefined && known.value.fp !== fp) {
                return yield* new FailedPrecondition({
                  reason:
                    `invocation id ${id} was already used for a different request (class, object, function or payload); use a new id`,
                })
              }
              // Not finished: make sure its job is queued (a no-op when it still is).
              if (known.value.state !== "DONE") {
                yield* outbox.enqueue(req.cls, [event])
              }
              return id
            }
            const pending: InvocationRecord = { state: "PENDING", fp, expiresAt: now + options.resultTtlMs }
            yield* outbox.enqueue(req.cls, [event], { id, result: pending, ttlMs: options.resultTtlMs, final: false })
            return id
          }),

          get: tracedFn("AsyncInvocations.get")(function*(invocationId: string, waitMs: number) {
            const until = (yield* Clock.currentTimeMillis) + Math.min(waitMs, 60_000)
            let delay = 10
            for (;;) {
              const found = yield* read(invocationId)
              if (Option.isNone(found)) {
                return yield* new NotFound({ resource: "invocation", name: invocationId })
              }
              const now = yield* Clock.currentTimeMillis
              if (found.value.state === "DONE" || now >= until) {
                return toResult(invocationId, found.value)
              }
              yield* Effect.sleep(Math.min(delay, until - now))
              delay = Math.min(delay * 2, 200)
            }
          }),

          run: tracedFn("AsyncInvocations.run")(function*(job: AsyncInvocation, lastAttempt: boolean) {
            const existing = yield* read(job.invocationId)
            // Delivered before (a lease expired after the result was stored): do not run it twice.
            if (Option.isSome(existing) && existing.value.state === "DONE") {
              return { _tag: "Done" } as const
            }
            const request = requestOf(job)
            const fp = fingerprint(request)
            yield* put(job.invocationId, { state: "RUNNING", fp }, false)
            const exit = yield* Effect.result(
              invoker.invoke(request, { internal: job.internal, callerClass: job.callerClass }),
            )
            if (exit._tag === "Success") {
              // Already recorded with the commit; stored again as a plain result for engines that
              // keep commit records beside the object (NATS), so GetResult sees it at once.
              yield* done(job.invocationId, fp, exit.success.status, "ok", exit.success)
              return { _tag: "Done" } as const
            }
            const e = exit.failure
            // The function was not reached: worth another attempt, unless this was the last.
            if (e._tag === "Unavailable" && !lastAttempt) {
              return { _tag: "Retry", error: e.message } as const
            }
            yield* done(job.invocationId, fp, e._tag === "ValidationError" ? "INVALID" : "SYSTEM_ERROR", errorCode(e), {
              error: e.message,
            })
            return { _tag: "Done" } as const
          }),
        }
      }),
    )
}
