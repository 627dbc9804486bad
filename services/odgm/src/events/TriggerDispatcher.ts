import { Clock, Context, Effect, FiberSet, Layer, Option, Random, Schema } from "effect"
import { type NotFound, orUnavailable, type Unavailable } from "@oprc/models"
import { AsyncInvocations, type JobOutcome } from "../invocation/AsyncInvocations.ts"
import { CollectionRegistry } from "../collections/CollectionRegistry.ts"
import { OutboxPayload, type TriggerDelivery } from "../domain/events.ts"
import { internalCaller } from "../domain/types.ts"
import { Invoker } from "../invocation/Invoker.ts"
import { recordDelivery, setInFlight } from "../OdgmMetrics.ts"
import { Outbox } from "./Outbox.ts"
import { type ClaimedEvent, type DeadLetterPage, ObjectStoreService, type OutboxEvent } from "../storage/ObjectStore.ts"
import type { TriggerConfig } from "../config.ts"

const decodePayload = Schema.decodeUnknownOption(OutboxPayload)
const utf8 = new TextEncoder()

/** A delivery that should be tried again (transient), or that can never succeed (permanent). */
type DeliveryFailure = { readonly _tag: "Transient" | "Permanent"; readonly error: string }

/**
 * Drains the durable outbox: claims due events with a lease, delivers each (a trigger invokes its
 * target function with the event as payload, using the event id as the invocation id; an async
 * job runs its invocation), then acks, retries with exponential backoff and jitter, or moves the
 * event to the dead letters after `maxAttempts`. At least once: an event whose lease expires
 * (ODGM killed mid-delivery) is claimed again, also by another node.
 */
export class TriggerDispatcher extends Context.Service<TriggerDispatcher, {
  /** Deliver whatever is due now (tests; the background loop does this continuously). */
  readonly drainOnce: Effect.Effect<number, Unavailable>
  readonly listDeadLetters: (limit: number, cursor: string | undefined) => Effect.Effect<DeadLetterPage, Unavailable>
  readonly redrive: (eventId: string) => Effect.Effect<void, NotFound | Unavailable>
  readonly discard: (eventId: string) => Effect.Effect<void, NotFound | Unavailable>
}>()("oprc/odgm/TriggerDispatcher") {
  static readonly layer = (config: TriggerConfig, invocationTimeoutMs: number) =>
    Layer.effect(TriggerDispatcher)(
      Effect.gen(function*() {
        const store = yield* ObjectStoreService
        const registry = yield* CollectionRegistry
        const invoker = yield* Invoker
        const jobs = yield* AsyncInvocations
        const outbox = yield* Outbox
        // A lease covers the event's own deadline (the job's timeout, else its route's, else the
        // default) plus a margin, capped at `leaseMs` and renewed while the delivery runs: an
        // event stranded by a dead node comes back within seconds, a long one is not taken over
        // while it runs. Route timeouts are learned as deliveries resolve their collections.
        const routeTimeouts = new Map<string, number>()
        const leaseFor = (event: OutboxEvent): number => {
          const p = decodePayload(event.payload)
          if (Option.isNone(p)) return config.leaseMarginMs
          const own = p.value.kind === "invoke" ? p.value.timeoutMs : undefined
          const key = p.value.kind === "invoke"
            ? `${p.value.cls}/${p.value.fn}`
            : `${p.value.target.cls}/${p.value.target.fn}`
          return Math.min((own || routeTimeouts.get(key) || invocationTimeoutMs) + config.leaseMarginMs, config.leaseMs)
        }
        /** Keeps the claim's lease alive while `body` runs (renewed at half its length). */
        const renewing = <A, E, R>(claim: ClaimedEvent, body: Effect.Effect<A, E, R>) => {
          const lease = leaseFor(claim.event)
          const renew = store.renewEvent(claim, lease).pipe(
            Effect.catchCause((cause) => Effect.logWarning(`lease of ${claim.event.id} not renewed`, cause)),
            Effect.delay(Math.max(50, lease / 2)),
            Effect.forever,
          )
          return Effect.scoped(Effect.andThen(Effect.forkScoped(renew), body))
        }
        const learnRoute = (cls: string, fn: string) =>
          registry.get(cls).pipe(
            Effect.tap((c) =>
              Effect.sync(() => void routeTimeouts.set(`${cls}/${fn}`, c.functions[fn]?.timeoutMs ?? 0))
            ),
            Effect.ignore,
          )
        let inFlight = 0

        const deliverTrigger = (d: TriggerDelivery) =>
          Effect.gen(function*() {
            const collection = yield* registry.get(d.target.cls)
            const route = collection.functions[d.target.fn]
            if (route === undefined) {
              return yield* Effect.fail<DeliveryFailure>({
                _tag: "Permanent",
                error: `no function ${d.target.cls}.${d.target.fn}`,
              })
            }
            const sameClass = d.target.cls === d.event.sourceCls
            const objectId = route.stateless
              ? undefined
              : d.target.objectId || (sameClass ? d.event.sourceObjectId : "")
            if (objectId === "") {
              return yield* Effect.fail<DeliveryFailure>({
                _tag: "Permanent",
                error: `stateful target ${d.target.cls}.${d.target.fn} needs target.objectId`,
              })
            }
            const r = yield* invoker.invoke(
              {
                cls: d.target.cls,
                partition: objectId !== undefined && sameClass && !d.target.objectId
                  ? d.event.sourcePartition
                  : undefined,
                objectId,
                fn: d.target.fn,
                payload: utf8.encode(JSON.stringify(d.event)),
                headers: {
                  ...d.target.headers,
                  "content-type": "application/json",
                  "x-oprc-trigger-event": d.event.type,
                  "x-oprc-event-id": d.event.eventId,
                },
                timeoutMs: undefined,
                invocationId: d.event.eventId,
              },
              internalCaller(d.event.sourceCls),
            )
            if (r.status === "OK") return
            return yield* Effect.fail<DeliveryFailure>({
              _tag: r.status === "INVALID" ? "Permanent" : "Transient",
              error: `${r.status}: ${r.error || "(no message)"}`,
            })
          }).pipe(
            Effect.catchTags({
              NotFound: (e) => Effect.fail<DeliveryFailure>({ _tag: "Transient", error: e.message }),
              ValidationError: (e) => Effect.fail<DeliveryFailure>({ _tag: "Permanent", error: e.message }),
              PermissionDenied: (e) => Effect.fail<DeliveryFailure>({ _tag: "Permanent", error: e.message }),
              FailedPrecondition: (e) => Effect.fail<DeliveryFailure>({ _tag: "Permanent", error: e.message }),
              Unavailable: (e) => Effect.fail<DeliveryFailure>({ _tag: "Transient", error: e.message }),
              DeadlineExceeded: (e) => Effect.fail<DeliveryFailure>({ _tag: "Transient", error: e.message }),
              VersionConflict: (e) => Effect.fail<DeliveryFailure>({ _tag: "Transient", error: e.message }),
            }),
          )

        const backoff = (attempts: number) =>
          Effect.map(
            Random.next,
            (r) => Math.min(config.backoffMaxMs, config.backoffBaseMs * 2 ** Math.max(0, attempts - 1)) * (0.5 + r / 2),
          )

        const settle = (
          claim: ClaimedEvent,
          target: { cls: string; fn: string },
          failure: DeliveryFailure | undefined,
        ) =>
          Effect.gen(function*() {
            if (failure === undefined) {
              yield* orUnavailable(store.ackEvent(claim))
              return yield* recordDelivery(target.cls, target.fn, "delivered")
            }
            if (failure._tag === "Permanent" || claim.attempts >= config.maxAttempts) {
              yield* Effect.logWarning(
                `event ${claim.event.id} dead-lettered after ${claim.attempts} attempt(s): ${failure.error}`,
              )
              yield* orUnavailable(store.deadLetter(claim, failure.error))
              return yield* recordDelivery(target.cls, target.fn, "dead_letter")
            }
            const at = (yield* Clock.currentTimeMillis) + (yield* backoff(claim.attempts))
            yield* orUnavailable(store.retryEvent(claim, at, failure.error))
            yield* recordDelivery(target.cls, target.fn, "retry")
          })

        const deliver = (claim: ClaimedEvent) =>
          renewing(
            claim,
            Effect.gen(function*() {
              const payload = decodePayload(claim.event.payload)
              if (Option.isNone(payload)) {
                return yield* settle(claim, { cls: "unknown", fn: "unknown" }, {
                  _tag: "Permanent",
                  error: "malformed outbox record",
                })
              }
              const p = payload.value
              yield* p.kind === "invoke" ? learnRoute(p.cls, p.fn) : learnRoute(p.target.cls, p.target.fn)
              if (p.kind === "invoke") {
                const outcome: JobOutcome = yield* jobs.run(p, claim.attempts >= config.maxAttempts)
                return yield* settle(
                  claim,
                  { cls: p.cls, fn: p.fn },
                  outcome._tag === "Done" ? undefined : { _tag: "Transient", error: outcome.error },
                )
              }
              const failure = yield* deliverTrigger(p).pipe(
                Effect.as(undefined),
                Effect.catch((f: DeliveryFailure) => Effect.succeed(f)),
              )
              yield* settle(claim, { cls: p.target.cls, fn: p.target.fn }, failure)
            }),
          ).pipe(
            // A failure to settle (storage down) leaves the lease to expire: the event comes back.
            Effect.catchCause((cause) => Effect.logWarning(`delivery of ${claim.event.id} not settled`, cause)),
            Effect.ensuring(Effect.suspend(() => setInFlight(--inFlight))),
          )

        const drainOnce = Effect.gen(function*() {
          const claims = yield* orUnavailable(store.claimEvents(config.batchSize, leaseFor))
          inFlight += claims.length
          yield* setInFlight(inFlight)
          yield* Effect.forEach(claims, deliver, { concurrency: config.concurrency, discard: true })
          return claims.length
        })

        // Each delivery runs in its own fiber, so one slow target does not hold up the others; the
        // loop claims only as many events as there are free slots, and wakes on commits, on
        // finished deliveries and on the poll interval.
        const running = yield* FiberSet.make()
        yield* Effect.gen(function*() {
          const want = Math.min(config.batchSize, config.concurrency - inFlight)
          const claims = want <= 0
            ? []
            : yield* orUnavailable(store.claimEvents(want, leaseFor)).pipe(
              Effect.catchCause((cause) => Effect.as(Effect.logWarning("outbox poll failed", cause), [])),
            )
          inFlight += claims.length
          yield* setInFlight(inFlight)
          for (const claim of claims) yield* FiberSet.run(running, Effect.ensuring(deliver(claim), outbox.notify))
          // Fewer than asked: the outbox is drained. No free slot: wait for a delivery to finish.
          if (claims.length < want || want <= 0 || inFlight >= config.concurrency) {
            yield* outbox.awaitWork(config.pollIntervalMs)
          }
        }).pipe(Effect.forever, Effect.forkScoped)

        return {
          drainOnce,
          listDeadLetters: (limit, cursor) =>
            orUnavailable(store.listDeadLetters({ limit, ...(cursor ? { cursor } : {}) })),
          redrive: (id) => orUnavailable(store.redrive(id)).pipe(Effect.tap(() => outbox.notify)),
          discard: (id) => orUnavailable(store.discard(id)),
        }
      }),
    )
}
