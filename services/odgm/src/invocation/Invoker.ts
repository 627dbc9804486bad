import { Clock, Context, Effect, Layer, Option, Schedule } from "effect"
import {
  type AccessModifier,
  type Collection,
  DeadlineExceeded,
  FailedPrecondition,
  type FunctionRoute,
  NotFound,
  orUnavailable,
  PermissionDenied,
  Unavailable,
  ValidationError,
  type VersionConflict,
} from "@oprc/models"
import { CollectionRegistry } from "../collections/CollectionRegistry.ts"
import { functionFirings, objectTriggers, type Source, toDeliveries } from "../domain/events.ts"
import type {
  Caller,
  Entries,
  InvocationRequest,
  InvocationResult,
  ObjectRef,
  ObjectState,
  StoredObject,
  Value,
} from "../domain/types.ts"
import { lockKey, ObjectGateway, readBefore, writeEvents } from "../objects/ObjectGateway.ts"
import { ObjectLocks } from "../objects/ObjectLocks.ts"
import { recordConflict, recordInvocation } from "../OdgmMetrics.ts"
import { Outbox } from "../events/Outbox.ts"
import { type FunctionCall, FunctionClient, type FunctionReply } from "./FunctionClient.ts"
import { decodeRecord, doneRecord, fingerprint, recordedResult } from "../domain/records.ts"
import { invocationSlot } from "../storage/common.ts"
import { type InvocationRecord, ObjectStoreService, type OutboxEvent } from "../storage/ObjectStore.ts"

export type InvokeError =
  | NotFound
  | ValidationError
  | PermissionDenied
  | Unavailable
  | DeadlineExceeded
  | VersionConflict
  | FailedPrecondition

/** An invocation whose outcome is recorded under its id (a given id: idempotency key, async job, trigger event). */
interface Recorded {
  readonly id: string
  readonly fp: string
}

/** One invocation as the Invoker runs it: where it goes, what it carries, until when. */
interface Run {
  readonly collection: Collection
  readonly route: FunctionRoute
  readonly req: InvocationRequest
  readonly invocationId: string
  readonly rec: Recorded | undefined
  /** Epoch ms. */
  readonly deadline: number
}

const noDeliveries: ReadonlyArray<OutboxEvent> = []
const noRecord = Effect.succeed(undefined)

/** PUBLIC: anyone; INTERNAL: functions with the internal credential; PRIVATE: those of the same class. */
const mayCall = (access: AccessModifier, caller: Caller, cls: string): boolean =>
  access === "PUBLIC" || (caller.internal && (access === "INTERNAL" || caller.callerClass === cls))

/** The route of `fn` on the collection, checked against the caller. */
export const routeFor = (
  collection: Collection,
  fn: string,
  caller: Caller,
): Effect.Effect<FunctionRoute, NotFound | PermissionDenied> => {
  const route = collection.functions[fn]
  if (route === undefined) return Effect.fail(new NotFound({ resource: "function", name: `${collection.name}.${fn}` }))
  if (!mayCall(route.access, caller, collection.name)) {
    return Effect.fail(
      new PermissionDenied({
        reason: `function ${collection.name}.${fn} is ${route.access}: ${
          route.access === "PRIVATE"
            ? "only functions of the same class"
            : "only functions (with the internal credential)"
        } may call it`,
      }),
    )
  }
  return Effect.succeed(route)
}

/** Re-runs after a lost commit start at once and back off a little, jittered, so racing nodes spread out. */
const conflictBackoff = Schedule.min([Schedule.exponential(1, 1.5), Schedule.spaced(20)]).pipe(Schedule.jittered)

const metricStatus = (e: { readonly _tag: string }): string =>
  e._tag === "VersionConflict" ? "conflict" : e._tag.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase()

/** The object state after a successful call, or `undefined` when the function changed nothing. */
const nextState = (current: StoredObject | undefined, reply: FunctionReply): ObjectState | null | undefined => {
  if (reply.deleteObject) return current === undefined ? undefined : null
  if (Object.keys(reply.set).length === 0 && reply.remove.every((k) => current?.entries[k] === undefined)) {
    return undefined
  }
  const entries: Record<string, Value> = { ...current?.entries, ...reply.set }
  for (const k of reply.remove) delete entries[k]
  return { entries: entries as Entries, triggers: current?.triggers ?? [] }
}

/**
 * Invokes functions. On an object: under the object's lock, load it at version v, call the
 * function with the state, commit its changes only if the object is still at v, together with
 * the data and function triggers they fire. A commit lost to another node re-runs the
 * invocation (at most `maxConflictRetries` times), then answers ABORTED. Stateless: just the call.
 * Everything before the commit is bounded by the invocation's deadline.
 *
 * Exactly once per given invocation id: the outcome is recorded in the same commit as the state
 * change (or, when nothing changed, with the function events), and a run that finds the record
 * answers it instead of calling the function again. Generated ids are never reused, so they are
 * not recorded.
 */
export class Invoker extends Context.Service<Invoker, {
  readonly invoke: (req: InvocationRequest, caller: Caller) => Effect.Effect<InvocationResult, InvokeError>
}>()("oprc/odgm/Invoker") {
  static readonly layer = (
    options: { readonly timeoutMs: number; readonly maxConflictRetries: number; readonly resultTtlMs: number },
  ) =>
    Layer.effect(Invoker)(
      Effect.gen(function*() {
        const store = yield* ObjectStoreService
        const registry = yield* CollectionRegistry
        const objects = yield* ObjectGateway
        const locks = yield* ObjectLocks
        const outbox = yield* Outbox
        const functions = yield* FunctionClient

        const remaining = (deadline: number) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            deadline - now > 0
              ? Effect.succeed(deadline - now)
              : Effect.fail(new DeadlineExceeded({ reason: "the invocation's deadline passed" })))

        // Event ids are fresh, not derived from the invocation id: a client may reuse its key once
        // the record expired, and a reused event id would be taken for one already delivered.
        const functionEvents = (
          collection: Collection,
          source: Source,
          triggers: ReadonlyArray<unknown> | undefined,
          fn: string,
          invocationId: string,
          reply: FunctionReply,
          base: string | undefined,
        ) => {
          const all = [...collection.triggers, ...objectTriggers(triggers)]
          const firings = all.length === 0 ? [] : functionFirings(source, all, fn, { invocationId, ...reply })
          // (Most invocations fire nothing: no generator for them.)
          if (firings.length === 0) return Effect.succeed(noDeliveries)
          return Effect.gen(function*() {
            // `undefined`: no other event shares the base, so it is made only when something fires.
            const b = base ?? (yield* outbox.newId("evt"))
            return toDeliveries(firings, source, `${b}.f`, yield* Clock.currentTimeMillis)
          })
        }

        /**
         * The record to commit with the outcome, for a recorded invocation that succeeded. Other
         * outcomes applied nothing and are not recorded: a retry (or a trigger's next delivery
         * attempt) runs the function again instead of replaying a failure that may have passed.
         */
        const recordOf = (
          rec: Recorded | undefined,
          r: InvocationResult,
        ): Effect.Effect<InvocationRecord | undefined> =>
          rec === undefined || r.status !== "OK"
            ? noRecord
            : Effect.map(Clock.currentTimeMillis, (now): InvocationRecord => ({
              id: rec.id,
              final: true,
              ttlMs: options.resultTtlMs,
              result: doneRecord(rec.fp, r.status, "ok", r, now + options.resultTtlMs),
            }))

        /** Loads the object (if any) and, for a recorded invocation, its earlier outcome. */
        const load = (ref: ObjectRef, rec: Recorded | undefined, deadline: number) =>
          Effect.gen(function*() {
            if (rec === undefined) {
              return {
                current: Option.getOrUndefined(yield* readBefore(deadline, store.get(ref), store.inlineGets)),
                replay: undefined,
              }
            }
            const found = yield* readBefore(deadline, store.getInvoked(ref, rec.id), store.inlineGets)
            const record = Option.flatMap(found.recorded, decodeRecord)
            if (Option.isSome(record) && record.value.state === "DONE") {
              if (record.value.fp !== undefined && record.value.fp !== rec.fp) {
                return yield* new FailedPrecondition({
                  reason:
                    `invocation id ${rec.id} was already used for a different request (class, object, function or payload); use a new id`,
                })
              }
              return { current: undefined, replay: recordedResult(rec.id, record.value) }
            }
            return { current: Option.getOrUndefined(found.object), replay: undefined }
          })

        const result = (
          invocationId: string,
          reply: FunctionReply,
          objectVersion: bigint | undefined,
        ): InvocationResult => ({
          invocationId,
          status: reply.status,
          output: reply.output,
          error: reply.error,
          headers: reply.headers,
          objectVersion,
        })

        /** The function's call for this run, with what is left of the deadline. */
        const callFunction = (run: Run, object: FunctionCall["object"]) =>
          Effect.flatMap(remaining(run.deadline), (timeoutMs) =>
            functions.call({
              url: run.route.url,
              urls: run.route.urls,
              invocationId: run.invocationId,
              cls: run.req.cls,
              fn: run.req.fn,
              object,
              payload: run.req.payload,
              headers: run.req.headers,
              timeoutMs,
            }))

        const stateless = (run: Run) =>
          Effect.gen(function*() {
            const { collection, req, invocationId, rec, deadline } = run
            // Only a recorded invocation (a given id) has an earlier outcome to find; a generated id is new.
            if (rec !== undefined) {
              const { replay } = yield* load(invocationSlot(req.cls, invocationId), rec, deadline)
              if (replay) return replay
            }
            const reply = yield* callFunction(run, undefined)
            const source = { cls: req.cls, partition: 0, objectId: "" }
            const r = result(invocationId, reply, undefined)
            const events = yield* functionEvents(collection, source, undefined, req.fn, invocationId, reply, undefined)
            yield* outbox.enqueue(req.cls, events, yield* recordOf(rec, r))
            return r
          })

        /** One run: load, call, commit. Fails with VersionConflict when another node committed first. */
        const attempt = (run: Run, ref: ObjectRef) =>
          Effect.gen(function*() {
            const { collection, req, invocationId, rec, deadline } = run
            const { current, replay } = yield* load(ref, rec, deadline)
            if (replay) return replay
            const reply = yield* callFunction(run, { id: ref.id, partition: ref.partition, state: current })
            const source = { cls: ref.cls, partition: ref.partition, objectId: ref.id }
            const base = yield* outbox.newId("evt")
            const fnEvents = yield* functionEvents(
              collection,
              source,
              current?.triggers,
              req.fn,
              invocationId,
              reply,
              base,
            )
            const next = reply.status === "OK" ? nextState(current, reply) : undefined
            if (next === undefined) {
              const r = result(invocationId, reply, current?.version)
              yield* outbox.enqueue(ref.cls, fnEvents, yield* recordOf(rec, r))
              return r
            }
            const now = yield* Clock.currentTimeMillis
            const events = [...writeEvents(collection, ref, current, next, `${base}.d`, now), ...fnEvents]
            // The store numbers versions (decide in storage/common.ts), so the outcome is known before the commit.
            const r = result(invocationId, reply, next === null ? 0n : (current?.version ?? 0n) + 1n)
            const invocation = yield* recordOf(rec, r)
            // Once the function ran, the commit is not interrupted by the deadline: it lands or conflicts.
            const stored = yield* orUnavailable(
              store.commit({
                ref,
                next,
                expectedVersion: current?.version ?? 0n,
                events,
                ...(invocation ? { invocation } : {}),
              }),
            ).pipe(Effect.uninterruptible)
            if (events.length > 0) yield* outbox.notify
            return { ...r, objectVersion: stored?.version ?? 0n }
          })

        const stateful = (run: Run) =>
          Effect.gen(function*() {
            const { req, invocationId, deadline } = run
            if (req.objectId === undefined || req.objectId === "") {
              return yield* ValidationError.single(
                "objectId",
                `function ${req.cls}.${req.fn} is stateful: invoke it on an object id`,
              )
            }
            const { ref } = yield* objects.resolve({ cls: req.cls, partition: req.partition, id: req.objectId })
            let runs = 0
            const once = Effect.suspend(() => {
              runs++
              // Each re-run is a new invocation of the function: give it its own id.
              return attempt({ ...run, invocationId: runs === 1 ? invocationId : `${invocationId}.r${runs - 1}` }, ref)
            })
            const retried = once.pipe(
              Effect.tapError((e) => (e._tag === "VersionConflict" ? recordConflict(req.cls, req.fn) : Effect.void)),
              Effect.retry({
                schedule: conflictBackoff,
                while: (e) => e._tag === "VersionConflict",
                times: options.maxConflictRetries,
              }),
            )
            const r = yield* locks.withLock(ref.cls, lockKey(ref), yield* remaining(deadline), retried)
            return { ...r, invocationId }
          })

        return {
          // Untraced: the server span (REST or RPC) already covers the invocation, and the function's
          // span is its child through traceparent; a span and call-site capture per call cost more.
          invoke: Effect.fnUntraced(function*(req: InvocationRequest, caller: Caller) {
            const started = performance.now()
            const invocation = Effect.gen(function*() {
              const collection = yield* registry.get(req.cls)
              const route = yield* routeFor(collection, req.fn, caller)
              if (route.url === "") {
                return yield* new Unavailable({ reason: `function ${req.cls}.${req.fn} has no address yet` })
              }
              const timeoutMs = req.timeoutMs || route.timeoutMs || options.timeoutMs
              const deadline = (yield* Clock.currentTimeMillis) + timeoutMs
              const invocationId = req.invocationId ?? (yield* outbox.newId("inv"))
              const rec = req.invocationId === undefined ? undefined : { id: req.invocationId, fp: fingerprint(req) }
              const run: Run = { collection, route, req, invocationId, rec, deadline }
              return route.stateless ? yield* stateless(run) : yield* stateful(run)
            })
            return yield* invocation.pipe(
              Effect.tap((r) =>
                recordInvocation(req.cls, req.fn, r.status.toLowerCase(), (performance.now() - started) / 1000)
              ),
              Effect.tapError((e) =>
                recordInvocation(req.cls, req.fn, metricStatus(e), (performance.now() - started) / 1000)
              ),
            )
          }),
        }
      }),
    )
}
