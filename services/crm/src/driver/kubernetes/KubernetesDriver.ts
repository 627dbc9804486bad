import { Effect, Layer, PubSub, Stream } from "effect"
import { type Condition, type DeploymentUnit, NotFound, ValidationError } from "@oprc/models"
import { OdgmCollections } from "../process/OdgmCollections"
import { Driver, DriverError, type Replica, type UnitObservation } from "../Driver"
import { API_VERSION, type Condition as RecordCondition, type DeploymentRecordStatus } from "./crds"
import { FIELD_MANAGER, KubeCallError, loadKubeConfig, makeKubeClient, SCALE_MANAGER } from "./KubeClient"
import { runLeaderElection } from "./LeaderElection"
import { recordOf } from "./record"
import { makeRecordController } from "./RecordController"
import type { KObject } from "./templates"

export interface KubernetesDriverOptions {
  /** kubeconfig file; undefined = in-cluster service account. */
  readonly kubeconfig: string | undefined
  /** In-cluster: prefix of the service account's token and CA paths ("" = the real ones). */
  readonly serviceAccountRoot?: string
  readonly namespace: string
  readonly leaseName: string
  readonly leaseDurationMs: number
  /** This replica's name in the Lease (pod name in-cluster). */
  readonly identity: string
  readonly environment: string
  readonly workers: number
  readonly resyncMs: number
  readonly odgmUrl: string
}

const managed = (r: KObject) => r.metadata.labels?.["app.kubernetes.io/managed-by"] === "oprc-crm"

const reasonOf = (
  e: unknown,
) => (e instanceof KubeCallError
  ? `Kubernetes API ${e.code === 0 ? "unreachable" : `answered ${e.code} ${e.reason}`}: ${e.message}`
  : String(e))

const toCondition = (c: RecordCondition): Condition =>
  ({
    type: c.type,
    status: c.status,
    reason: c.reason ?? "",
    message: c.message ?? "",
    observedGeneration: c.observedGeneration ?? 0,
    ...(c.lastTransitionTime === undefined ? {} : { lastTransitionTime: Date.parse(c.lastTransitionTime) }),
  }) as Condition

/**
 * The Kubernetes driver: each unit is a DeploymentRecord in `namespace`; the record controller
 * (this process, when it holds the Lease) turns records into workloads. The driver reads the
 * record's status back into the same UnitObservation the process driver returns, so the runtime
 * and the PM cannot tell the drivers apart.
 */
export const KubernetesDriverLayer = (options: KubernetesDriverOptions) =>
  Layer.effect(Driver)(Effect.gen(function*() {
    const odgm = yield* OdgmCollections
    const kc = yield* Effect.try({
      try: () => loadKubeConfig(options),
      catch: (e) => new DriverError({ unitId: "", reason: `kubeconfig: ${String(e)}` }),
    }).pipe(Effect.orDie)
    const kube = makeKubeClient(kc, options.namespace, options.identity)
    const changes = yield* PubSub.unbounded<string>()
    const seen = new Map<string, string>()
    let leader = false
    const records = yield* makeRecordController(kube, odgm, {
      workers: options.workers,
      resyncMs: options.resyncMs,
      defaultEnvironment: options.environment,
      odgmUrl: options.odgmUrl,
      followerRecheckMs: Math.max(100, Math.floor(options.leaseDurationMs / 3)),
      passTimeoutMs: 10_000,
    }, () =>
      leader, (record) => {
      // A status change of a record is a change of its unit for the runtime (it re-reads it);
      // records made with kubectl are not units (the runtime would remove them as orphans).
      if (!managed(record)) {
        return
      }
      const key = JSON.stringify([record.metadata.resourceVersion, record.status])
      if (seen.get(record.metadata.name) === key) {
        return
      }
      seen.set(record.metadata.name, key)
      Effect.runFork(PubSub.publish(changes, (record.spec?.unitId as string | undefined) ?? record.metadata.name))
    })
    yield* runLeaderElection(kube, {
      leaseName: options.leaseName,
      identity: options.identity,
      leaseDurationMs: options.leaseDurationMs,
      onChange: (isLeader) =>
        Effect.suspend(() => {
          leader = isLeader
          return isLeader
            ? Effect.andThen(
              Effect.logInfo(`${options.identity} leads (Lease ${options.leaseName})`),
              records.enqueueAll,
            )
            : Effect.logInfo(`${options.identity} stopped leading`)
        }),
    }).pipe(Effect.forkScoped)

    const observe = (unit: DeploymentUnit, record: KObject | undefined): UnitObservation => {
      const status = (record?.status ?? {}) as DeploymentRecordStatus
      const generation = Number(record?.metadata.generation ?? 0)
      const current = record !== undefined && status.observedGeneration === generation &&
        record.spec?.unitGeneration === unit.generation
      if (!current) {
        const message = record === undefined
          ? "the DeploymentRecord is being written"
          : `waiting for the controller to observe generation ${generation} of DeploymentRecord ${record.metadata.name}`
        return {
          unitId: unit.id,
          generation: unit.generation,
          functions: [],
          odgmUrl: odgm.url,
          requeueAfterMs: undefined,
          conditions: [
            {
              type: "Available",
              status: "False",
              reason: "ReplicasStarting",
              message,
              observedGeneration: unit.generation,
            },
            { type: "Progressing", status: "True", reason: "Accepted", message, observedGeneration: unit.generation },
            { type: "Degraded", status: "False", reason: "Healthy", message: "", observedGeneration: unit.generation },
          ] as Array<Condition>,
        }
      }
      return {
        unitId: unit.id,
        generation: unit.generation,
        functions: (status.functions ?? []).map((f) => ({
          function: f.function,
          desiredReplicas: f.desiredReplicas,
          readyReplicas: f.readyReplicas,
          urls: f.url === undefined ? [] : [f.url],
          message: f.message ?? "",
        })),
        conditions: (status.conditions ?? []).filter((c) =>
          c.type !== "NfrObserved"
        ).map((c) =>
          toCondition({ ...c, observedGeneration: unit.generation })
        ),
        odgmUrl: odgm.url,
        requeueAfterMs: undefined,
      }
    }

    const byUnit = (unitId: string) =>
      records.cached(unitId)

    return Driver.of({
      name: "kubernetes",
      reconcile: (unit) =>
        Effect.tryPromise({
          try: () =>
            kube.apply(recordOf(unit, options.namespace), FIELD_MANAGER),
          catch: (e) => new DriverError({ unitId: unit.id, reason: `DeploymentRecord ${unit.id}: ${reasonOf(e)}` }),
        }).pipe(Effect.map((written) => {
          const cached = byUnit(unit.id)
          // The informer may lag the write by a moment; the newer of the two tells the status.
          return observe(
            unit,
            cached !== undefined && Number(cached.metadata.resourceVersion) >= Number(written.metadata.resourceVersion)
              ? cached
              : written,
          )
        })),
      // Only a unit this CRM deleted (the runtime passes its last version) loses its record. A
      // record the store does not know may belong to another CRM replica (several share the
      // cluster), so it is never removed as an orphan.
      remove: (unitId, last) =>
        last === undefined ? Effect.void : Effect.tryPromise({
          try: () => kube.remove(API_VERSION, "DeploymentRecord", unitId),
          catch: (e) => new DriverError({ unitId, reason: `DeploymentRecord ${unitId}: ${reasonOf(e)}` }),
        }),
      scale: (unitId, fn, replicas) =>
        Effect.gen(function*() {
          const record = byUnit(unitId)
          const f = (record?.spec?.functions ?? []).find((x: { key: string }) => x.key === fn)
          if (record === undefined) return yield* new NotFound({ resource: "deployment unit", name: unitId })
          if (f === undefined) {
            return yield* ValidationError.single("function", `unit ${unitId} has no function ${JSON.stringify(fn)}`)
          }
          const min = Math.max(1, f.minScale ?? 0)
          const max = (f.maxScale ?? 0) === 0 ? Number.MAX_SAFE_INTEGER : Math.max(min, f.maxScale)
          const n = Math.min(max, Math.max(min, Math.floor(replicas)))
          // Its own field manager: the CRM's spec writes never take the enforcer's numbers away.
          yield* Effect.tryPromise(() =>
            kube.apply({
              apiVersion: API_VERSION,
              kind: "DeploymentRecord",
              metadata: { name: unitId, namespace: options.namespace },
              spec: { scale: { [fn]: n }, scaleUnitGeneration: record.spec.unitGeneration ?? 0 },
            } as KObject, SCALE_MANAGER)
          ).pipe(Effect.orDie)
          return n
        }),
      replicas: (unitId) =>
        Effect.sync(() =>
          // Only the CRM's own records are units; one made with kubectl is reconciled, never removed by the runtime.
          records.list().filter((r) => managed(r) && (unitId === undefined || r.metadata.name === unitId)).flatMap((
            r,
          ) =>
            ((r.status?.functions ?? []) as NonNullable<DeploymentRecordStatus["functions"]>).flatMap((f) =>
              Array.from({ length: f.readyReplicas }, (_, index): Replica => {
                const cls = `${r.spec.packageName}.${r.spec.class.key}`
                return {
                  unitId: r.metadata.name,
                  deploymentKey: r.spec.deploymentKey,
                  cls,
                  function: f.function,
                  index,
                  url: f.url ?? "",
                  ready: true,
                  pid: undefined,
                  labels: {
                    oprc_class: cls,
                    oprc_function: f.function,
                    oprc_deployment: r.spec.deploymentKey,
                    oprc_unit: r.metadata.name,
                    oprc_replica: String(index),
                  },
                }
              })
            )
          )
        ),
      changes: Stream.fromPubSub(changes),
      ready: Effect.tryPromise({
        try: () => kube.version(),
        catch: (e) => new DriverError({ unitId: "", reason: reasonOf(e) }),
      }).pipe(
        Effect.andThen(
          odgm.ping.pipe(Effect.mapError((e) =>
            new DriverError({ unitId: "", reason: `ODGM ${odgm.url}: ${e.message}` })
          )),
        ),
      ),
    })
  }))
