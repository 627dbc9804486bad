import { Clock, Effect, Option } from "effect"
import type { Versioned } from "@oprc/cp-storage"
import type { ClusterDeploymentStatus, DeploymentPhase, DeploymentStatus } from "@oprc/models"
import type { ClusterRegistry } from "../clusters/ClusterRegistry"
import type { CrmError, UnitStatus } from "../clusters/CrmClient"
import type { PmStore } from "../storage/PmStore"
import { type DeploymentRecord, unitFor } from "./records"
import { aggregate, scheduled, statusFingerprint } from "./status"

/**
 * One reconcile pass over one deployment: compare the desired state (record + generation) with
 * what each cluster's CRM acknowledged, send what is missing, remove what is no longer wanted,
 * and store the aggregated status. Every step is idempotent, so a pass may be repeated at any
 * time, by any PM, after any crash.
 *
 * - "done": nothing left to do until something changes.
 * - "settling": all sent, but a cluster is still rolling out; look again soon.
 * - "retry": something failed (a CRM, storage, a concurrent writer); retry with backoff.
 */
type Outcome = "done" | "settling" | "retry"

export interface PassResult {
  readonly outcome: Outcome
  /** The deployment's phase after the pass, when the pass got that far. */
  readonly phase: DeploymentPhase | undefined
  /** The deployment no longer exists. */
  readonly gone: boolean
}

const retryLater: PassResult = { outcome: "retry", phase: undefined, gone: false }

const reasonOf = (e: CrmError): string =>
  e.code === "circuit_open"
    ? "CircuitOpen"
    : e.code === "unavailable" || e.code === "deadline_exceeded" || e.code === "canceled"
    ? "CrmUnavailable"
    : e.code === "unauthenticated" || e.code === "permission_denied"
    ? "Unauthorized"
    : e.code === "invalid_argument" || e.code === "failed_precondition"
    ? "Rejected"
    : "CrmError"

const transient = (reason: string) => reason === "CircuitOpen" || reason === "CrmUnavailable" || reason === "CrmError"

export const makeReconcile = (store: PmStore["Service"], registry: ClusterRegistry["Service"]) => {
  /** The entry after the CRM reported `s` for the generation it acknowledged. */
  const observed = (
    entry: ClusterDeploymentStatus,
    s: UnitStatus,
    acked: number,
    now: number,
  ): ClusterDeploymentStatus => ({
    ...entry,
    acknowledgedGeneration: Math.max(acked, s.observedGeneration),
    phase: s.phase,
    conditions: [...s.conditions],
    reason: s.phase === "Running" ? "" : s.phase,
    message: s.message,
    lastContact: now,
    functions: [...s.functions],
    ...(s.nfr === undefined ? {} : { nfr: s.nfr }),
  })

  /** The entry after a failed call; the reason says what the PM could not do, the message why. */
  const failed = (entry: ClusterDeploymentStatus, e: CrmError, generation: number): ClusterDeploymentStatus => {
    const reason = reasonOf(e)
    const acked = entry.acknowledgedGeneration
    const at = (phase: DeploymentPhase, why: string): ClusterDeploymentStatus => ({
      ...entry,
      phase,
      reason: why,
      message: e.reason,
    })
    if (reason === "Rejected") return at("Failed", reason)
    if (acked === 0) return at("Pending", reason)
    if (acked < generation) return at("Deploying", `UpdatePending/${reason}`)
    // It was acknowledged, but nobody can confirm it still runs.
    return at("Degraded", `Unconfirmed/${reason}`)
  }

  /** Brings one placed cluster to the record's generation. */
  const sync = (record: DeploymentRecord, entry: ClusterDeploymentStatus, now: number) =>
    Effect.gen(function*() {
      const client = registry.client(entry.cluster)
      if (client === undefined) {
        return {
          ...entry,
          phase: "Failed" as const,
          reason: "UnknownCluster",
          message: `cluster "${entry.cluster}" is not in the PM's configuration`,
        }
      }
      const apply = (from: ClusterDeploymentStatus) =>
        client.apply(unitFor(record, entry.cluster)).pipe(
          Effect.map((s) => observed(from, s, record.generation, now)),
          Effect.catch((e: CrmError) => Effect.succeed(failed(from, e, record.generation))),
        )
      if (entry.acknowledgedGeneration < record.generation) return yield* apply(entry)
      const current = yield* Effect.result(client.get(entry.unitId))
      if (current._tag === "Failure") return failed(entry, current.failure, record.generation)
      // The CRM lost the unit (or holds an older generation, e.g. restored from a backup): send it again.
      if (Option.isNone(current.success) || current.success.value.observedGeneration < record.generation) {
        return yield* apply({
          ...entry,
          acknowledgedGeneration: Option.isNone(current.success) ? 0 : current.success.value.observedGeneration,
        })
      }
      return observed(entry, current.success.value, record.generation, now)
    })

  /** Removes the unit from a cluster that is no longer wanted; undefined once it is gone. */
  const retire = (entry: ClusterDeploymentStatus) =>
    Effect.gen(function*() {
      const client = registry.client(entry.cluster)
      if (client === undefined) {
        yield* Effect.logWarning(`dropping unit ${entry.unitId}: cluster "${entry.cluster}" is no longer configured`)
        return undefined
      }
      const removed = yield* Effect.result(client.remove(entry.unitId))
      if (removed._tag === "Success") return undefined
      return {
        ...entry,
        phase: "Deleting" as const,
        reason: `DeletePending/${reasonOf(removed.failure)}`,
        message: removed.failure.reason,
      }
    })

  const writeStatus = (key: string, status: DeploymentStatus, revision: bigint | undefined) =>
    revision === undefined
      ? Effect.map(store.statuses.create(key, status), (v) => v.revision)
      : Effect.map(store.statuses.update(key, status, revision), (v) => v.revision)

  const settledPhase = (e: ClusterDeploymentStatus, generation: number) =>
    e.acknowledgedGeneration >= generation && (e.phase === "Running" || e.phase === "Failed" || e.phase === "Degraded")

  const pass = (key: string) =>
    Effect.gen(function*() {
      const spec = yield* store.deployments.get(key)
      const doc: Option.Option<Versioned<DeploymentStatus>> = yield* store.statuses.get(key)
      if (Option.isNone(spec)) {
        if (Option.isSome(doc)) yield* store.statuses.delete(key)
        return { outcome: "done", phase: undefined, gone: true } satisfies PassResult
      }
      const record = spec.value.value
      const now = yield* Clock.currentTimeMillis
      const targets = record.deleting ? [] : record.deployment.placedClusters
      const entries = new Map((Option.isSome(doc) ? doc.value.value.clusters : []).map((e) => [e.cluster, e]))
      let revision = Option.isSome(doc) ? doc.value.revision : undefined
      let before = Option.isSome(doc) ? doc.value.value : undefined

      // Intent first: a cluster gets an entry before anything is sent to it, so a crash between
      // sending and recording can never leave a unit the PM does not know it has to clean up.
      const missing = targets.filter((c) => !entries.has(c))
      if (missing.length > 0 || before === undefined) {
        for (const c of missing) entries.set(c, scheduled(record, c))
        before = aggregate(record, [...entries.values()], now)
        revision = yield* writeStatus(key, before, revision)
      }

      const results = yield* Effect.forEach(
        [...entries.values()],
        (entry) => (targets.includes(entry.cluster) ? sync(record, entry, now) : retire(entry)),
        { concurrency: "unbounded" },
      )
      const next = results.filter((e): e is ClusterDeploymentStatus => e !== undefined)
      const status = aggregate(record, next, now)
      if (statusFingerprint(status) !== statusFingerprint(before)) yield* writeStatus(key, status, revision)

      if (record.deleting && next.length === 0) {
        yield* store.deployments.delete(key, spec.value.revision)
        yield* store.statuses.delete(key)
        yield* Effect.logInfo(`deployment ${key} deleted from every cluster`)
        return { outcome: "done", phase: undefined, gone: true } satisfies PassResult
      }
      const current = next.filter((e) => targets.includes(e.cluster))
      const outcome: Outcome = next.some((e) => !targets.includes(e.cluster)) || current.some((e) =>
          transient(e.reason.split("/").pop() ?? "")
        )
        ? "retry"
        : current.every((e) => settledPhase(e, record.generation))
        ? "done"
        : "settling"
      return { outcome, phase: status.phase, gone: false } satisfies PassResult
    }).pipe(
      // A concurrent writer (another PM, a racing API call) or a storage hiccup: look again later.
      Effect.catchTags({
        StorageError: (e) => Effect.as(Effect.logWarning(`reconcile ${key}: storage: ${e.reason}`), retryLater),
        VersionConflict: () => Effect.succeed(retryLater),
        AlreadyExists: () => Effect.succeed(retryLater),
      }),
    )

  return pass
}
