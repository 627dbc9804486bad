import { Effect, Schema } from "effect"
import type { Collection } from "@oprc/models"
import { makeController, Outcome } from "@oprc/reconcile"
import { tracedFn } from "@oprc/observability"
import type { OdgmCollections } from "../process/OdgmCollections"
import {
  API_VERSION,
  type Condition,
  DeploymentRecordSpec,
  type DeploymentRecordStatus,
  DeploymentTemplateSpec,
  EnvironmentConfigSpec,
  GROUP,
  VERSION,
} from "./crds"
import { CONTROLLER_MANAGER, FINALIZER, KubeCallError, type KubeClient } from "./KubeClient"
import { renderOdgm } from "./odgm"
import { observeChildren } from "./observe"
import { makeReflector } from "./Reflector"
import { type KObject, RECORD_LABEL, recordLabel, renderChildren, selectTemplate } from "./templates"

export interface RecordControllerOptions {
  readonly workers: number
  readonly resyncMs: number
  /** The EnvironmentConfig used when a record names none. */
  readonly defaultEnvironment: string
  readonly odgmUrl: string
  readonly followerRecheckMs: number
  readonly passTimeoutMs: number
}

const decodeSpec = Schema.decodeUnknownSync(DeploymentRecordSpec)
const decodeTemplate = Schema.decodeUnknownSync(DeploymentTemplateSpec)
const decodeEnv = Schema.decodeUnknownSync(EnvironmentConfigSpec)

/** The kinds a record's children can have; stale ones (template or function removed) are deleted. */
const CHILD_KINDS: ReadonlyArray<[string, string]> = [
  ["apps/v1", "Deployment"],
  ["v1", "Service"],
  ["autoscaling/v2", "HorizontalPodAutoscaler"],
  ["batch/v1", "Job"],
  ["serving.knative.dev/v1", "Service"],
  ["keda.sh/v1alpha1", "ScaledObject"],
]

const isMissingKind = (e: unknown) =>
  e instanceof KubeCallError && (e.code === 404 || /resource|not found/i.test(e.message))

const cond = (
  type: string,
  ok: boolean | "Unknown",
  reason: string,
  message: string,
  generation: number,
  previous: ReadonlyArray<Condition>,
): Condition => {
  const status = ok === "Unknown" ? "Unknown" : ok ? "True" : "False"
  const before = previous.find((c) => c.type === type)
  return {
    type,
    status,
    reason,
    message,
    observedGeneration: generation,
    lastTransitionTime: before !== undefined && before.status === status && before.lastTransitionTime !== undefined
      ? before.lastTransitionTime
      : new Date().toISOString().replace(/\.\d+Z$/, "Z"),
  }
}

/**
 * The DeploymentRecord controller (the shape of kube-rs's controller-rs): a reflector (list +
 * watch from the resourceVersion, re-list on 410) feeds @oprc/reconcile's work queue; a pass
 * adds the finalizer, picks the template, applies every child by server-side apply with
 * ownerReferences, applies the ODGM collection, and writes conditions + observedGeneration
 * through the status subresource, with an Event on every condition change. Deletion: the
 * finalizer removes the ODGM collection (garbage collection removes the children).
 * `isLeader` gates every pass: with several CRM replicas only the Lease holder writes.
 */
export const makeRecordController = (
  kube: KubeClient,
  odgm: OdgmCollections["Service"],
  options: RecordControllerOptions,
  isLeader: () => boolean,
  onStatus: (record: KObject) => void,
) =>
  Effect.gen(function*() {
    const ns = kube.namespace
    const path = `/apis/${GROUP}/${VERSION}/namespaces/${ns}/deploymentrecords`
    let enqueue: (name: string) => void = () => {}
    const reflector = makeReflector(kube.kc, path, () => kube.listRecords("deploymentrecords"), {
      changed: (o) => {
        onStatus(o)
        enqueue(o.metadata.name)
      },
      relisted: (all) => all.forEach((o) => (onStatus(o), enqueue(o.metadata.name))),
    })
    const cached = (name: string) => reflector.get(name)
    // Deployments report readiness on their own: their changes bring the owning record back at once.
    const children = makeReflector(kube.kc, `/apis/apps/v1/namespaces/${ns}/deployments`, () =>
      kube.listRaw("apps/v1", "Deployment", RECORD_LABEL), {
      changed: (o) => {
        const owner = (o.metadata.ownerReferences ?? []).find((r) =>
          r.kind === "DeploymentRecord"
        )
        if (owner !== undefined) enqueue(owner.name as string)
      },
      relisted: () => {},
    }, RECORD_LABEL)

    const environment = tracedFn("k8s.environment")(function*(name: string) {
      const env = yield* Effect.tryPromise(() =>
        kube.read(API_VERSION, "EnvironmentConfig", name)
      )
      const spec = env?.spec === undefined ? {} : decodeEnv(env.spec)
      // ODGM itself (StatefulSet on NATS), owned by the EnvironmentConfig, when it asks for it.
      if (env !== undefined && spec.odgm?.deploy === true) {
        for (const o of renderOdgm({ name, namespace: ns, uid: env.metadata.uid as string, spec })) {
          yield* Effect.tryPromise(() => kube.apply(o, CONTROLLER_MANAGER))
        }
      }
      return spec
    })
    const templates = Effect.tryPromise(() => kube.list(API_VERSION, "DeploymentTemplate")).pipe(
      Effect.map((items) =>
        new Map(items.flatMap((t) => {
          try {
            return [[t.metadata.name, decodeTemplate(t.spec)] as const]
          } catch {
            return []
          }
        }))
      ),
      Effect.catch(() => Effect.succeed(new Map())),
    )

    const event = (record: KObject, type: "Normal" | "Warning", reason: string, message: string) =>
      Effect.tryPromise(() => kube.event(record, type, reason, message)).pipe(Effect.ignore)

    const writeStatus = (record: KObject, status: DeploymentRecordStatus) =>
      Effect.gen(function*() {
        const previous = (record.status?.conditions ?? []) as ReadonlyArray<Condition>
        const same = JSON.stringify(record.status ?? {}) === JSON.stringify(status)
        if (same) return
        yield* Effect.tryPromise(() => kube.applyRecordStatus(record.metadata.name, status))
        for (const c of status.conditions ?? []) {
          const before = previous.find((p) => p.type === c.type)
          if (before?.status === c.status && before?.reason === c.reason) continue
          const warn = (c.type === "Degraded" && c.status === "True") ||
            (c.type === "Available" && c.status === "False" && c.reason !== "ReplicasStarting")
          yield* event(
            record,
            warn ? "Warning" : "Normal",
            c.reason ?? c.type,
            `${c.type}=${c.status}: ${c.message ?? ""}`,
          )
        }
      })

    const collectionOf = (spec: DeploymentRecordSpec, urls: ReadonlyMap<string, string>): Collection =>
      ({
        name: `${spec.packageName}.${spec.class.key}`,
        partitionCount: spec.odgm?.partitionCount ?? 1,
        functions: Object.fromEntries((spec.class.bindings ?? []).map((b) => [b.name, {
          url: urls.get(b.function) ?? "",
          urls: urls.has(b.function) ? [urls.get(b.function)!] : [],
          stateless: b.stateless ?? false,
          access: b.access ?? "PUBLIC",
          timeoutMs: 0,
          functionKey: b.function,
        }])),
        triggers: (spec.odgm?.triggers ?? []).map((t) => ({
          ...t,
          target: {
            cls: t.target.cls ?? "",
            function: t.target.function,
            objectId: t.target.objectId ?? "",
            headers: t.target.headers ?? {},
          },
        })),
        consistency: spec.class.consistency ?? "EVENTUAL",
      }) as unknown as Collection

    const finalize = (record: KObject) =>
      Effect.gen(function*() {
        const finalizers = (record.metadata.finalizers ?? []) as Array<string>
        if (!finalizers.includes(FINALIZER)) return Outcome.done
        const spec = decodeSpec(record.spec)
        // What garbage collection cannot reach: the class's collection in the cluster's ODGM (objects stay).
        yield* odgm.remove(`${spec.packageName}.${spec.class.key}`).pipe(Effect.mapError((e) =>
          new Error(`ODGM: ${e.message}`)
        ))
        // A 404: it is gone already (our cache lagged); a 409: newer record, the queue retries.
        yield* Effect.tryPromise(() =>
          kube.setFinalizers(
            record.metadata.name,
            record.metadata.resourceVersion as string,
            finalizers.filter((f) => f !== FINALIZER),
          ).catch((e) => {
            if (!(e instanceof KubeCallError && e.code === 404)) throw e
          })
        )
        return Outcome.done
      })

    const pass = (name: string) => {
      let step = "start"
      const at = (what: string) => Effect.sync(() => void (step = what))
      return Effect.gen(function*() {
        // Not the leader: look again later (cheap, no API call), so nothing is lost at a takeover.
        if (!isLeader()) return Outcome.requeueAfter(options.followerRecheckMs)
        const record = cached(name)
        if (record === undefined) return Outcome.done
        if (record.metadata.deletionTimestamp !== undefined) {
          return yield* Effect.andThen(at("finalize"), finalize(record))
        }
        const generation = Number(record.metadata.generation ?? 1)
        const previous = (record.status?.conditions ?? []) as ReadonlyArray<Condition>
        const finalizers = (record.metadata.finalizers ?? []) as Array<string>
        if (!finalizers.includes(FINALIZER)) {
          yield* at("add finalizer")
          // The finalizer goes on before any child exists (a 409 here means a newer record: the
          // queue retries); the pass goes on with the same spec, no second watch round trip.
          yield* Effect.tryPromise(() =>
            kube.setFinalizers(name, record.metadata.resourceVersion as string, [...finalizers, FINALIZER])
          )
        }
        let spec: DeploymentRecordSpec
        try {
          spec = decodeSpec(record.spec)
        } catch (e) {
          yield* writeStatus(record, invalidStatus(generation, "InvalidSpec", String(e).slice(0, 500), previous))
          return Outcome.done
        }
        const imageless = (spec.functions ?? []).filter((f) => (f.image ?? "") === "").map((f) => f.key)
        if (imageless.length > 0) {
          const why = `function ${
            imageless.map((k) => `\`${k}\``).join(", ")
          }: provision.image is empty (the kubernetes driver runs containers; provision.command is for the process driver)`
          yield* writeStatus(record, invalidStatus(generation, "InvalidFunction", why, previous))
          return Outcome.done
        }
        yield* at("read EnvironmentConfig and DeploymentTemplates")
        const env = yield* environment(spec.environment ?? options.defaultEnvironment)
        const selection = selectTemplate(spec, yield* templates, env)
        if (!selection.ok) {
          yield* writeStatus(record, invalidStatus(generation, "UnknownTemplate", selection.reason, previous))
          return Outcome.done
        }
        const uid = record.metadata.uid as string
        const ctx = {
          record: { name, namespace: ns, uid },
          spec,
          env,
          selection,
          odgmUrl: env.odgmUrl ?? options.odgmUrl,
        }
        const rendered = renderChildren(ctx, generation)
        const applied = new Set<string>()
        for (const { objects } of rendered) {
          for (const o of objects) {
            yield* at(`apply ${o.kind} ${o.metadata.name}`)
            yield* Effect.tryPromise(() => kube.apply(o, CONTROLLER_MANAGER))
            applied.add(`${o.apiVersion}/${o.kind}/${o.metadata.name}`)
          }
        }
        // Children can only go stale when the set applied differs from the last status's (spec, template or environment changed).
        const childKeys = [...applied].sort()
        if (
          record.status?.observedGeneration !== generation ||
          JSON.stringify(record.status?.children ?? []) !== JSON.stringify(childKeys)
        ) {
          yield* at("remove stale children")
          yield* removeStale(name, applied)
        }
        yield* at("observe children")
        const observed = yield* observeChildren(kube, rendered, selection.base)
        const urls = new Map(
          observed.functions.flatMap((f) => (f.url === undefined ? [] : [[f.function, f.url] as const])),
        )
        yield* at("apply the ODGM collection")
        const odgmResult = yield* Effect.result(odgm.apply(collectionOf(spec, urls)))
        const odgmError = odgmResult._tag === "Failure"
          ? `the collection could not be applied to ODGM (${odgm.url}): ${odgmResult.failure.message}`
          : ""
        const settled = observed.allReady && odgmError === ""
        const status: DeploymentRecordStatus = {
          observedGeneration: generation,
          phase: observed.failed.length > 0 ? "Degraded" : settled ? "Running" : "Deploying",
          template: selection.name,
          templateReason: selection.reason,
          children: childKeys,
          functions: observed.functions,
          conditions: [
            cond(
              "Available",
              observed.allReady,
              observed.allReady ? "ReplicasReady" : observed.failed.length > 0 ? "ReplicasFailing" : "ReplicasStarting",
              observed.summary,
              generation,
              previous,
            ),
            cond(
              "Progressing",
              !settled,
              settled ? "Settled" : odgmError !== "" ? "OdgmUnavailable" : "RollingOut",
              odgmError !== "" ? odgmError : observed.summary,
              generation,
              previous,
            ),
            cond(
              "Degraded",
              observed.failed.length > 0,
              observed.failed.length > 0 ? "WorkloadFailed" : "Healthy",
              observed.failed.join("; "),
              generation,
              previous,
            ),
            // The NFR loop's findings live in the unit's status (RuntimeService, the PM), not here.
            cond(
              "NfrObserved",
              "Unknown",
              "ReportedByCrm",
              "the CRM's NFR analyzer reports in the unit's status (RuntimeService and the PM)",
              generation,
              previous,
            ),
          ],
        }
        yield* at("write status")
        yield* writeStatus(record, status)
        return settled ? Outcome.done : Outcome.requeueAfter(observed.failed.length > 0 ? 2000 : 250)
      }).pipe(
        // Every pass is bounded: a hung API call must not hold its key forever.
        Effect.timeoutOrElse({
          duration: options.passTimeoutMs,
          orElse: () =>
            Effect.fail(new Error(`reconcile pass timed out after ${options.passTimeoutMs} ms (step: ${step})`)),
        }),
        Effect.catch((e) => {
          const cause = e instanceof Error && e.cause instanceof Error ? e.cause : e
          const reason = cause instanceof Error ? cause.message : String(cause)
          return Effect.as(Effect.logWarning(`DeploymentRecord ${name}: ${reason}`), Outcome.retry(reason))
        }),
      )
    }

    const removeStale = (name: string, keep: ReadonlySet<string>) =>
      Effect.forEach(CHILD_KINDS, ([apiVersion, kind]) =>
        Effect.tryPromise(async () => {
          let items: Array<KObject>
          try {
            items = await kube.list(apiVersion, kind, `${RECORD_LABEL}=${recordLabel(name)}`)
          } catch (e) {
            if (isMissingKind(e)) return
            throw e
          }
          for (const o of items) {
            if (!keep.has(`${apiVersion}/${kind}/${o.metadata.name}`)) {
              await kube.remove(apiVersion, kind, o.metadata.name)
            }
          }
        }), { discard: true })

    const controller = yield* makeController(
      {
        name: "crm-k8s-records",
        workers: options.workers,
        resyncMs: options.resyncMs,
        backoff: { baseMs: 100, maxMs: 5000 },
      },
      pass,
      Effect.sync(() => reflector.list().map((r) => r.metadata.name)),
    )
    enqueue = (name) => void Effect.runFork(controller.enqueue(name))
    yield* Effect.acquireRelease(Effect.sync(() => void reflector.start()), () => Effect.sync(() => reflector.stop()))
    yield* Effect.acquireRelease(Effect.sync(() => void children.start()), () => Effect.sync(() => children.stop()))
    return {
      controller,
      cached,
      list: reflector.list,
      relists: reflector.relists,
      enqueueAll: Effect.suspend(() =>
        Effect.forEach(reflector.list(), (r) => controller.enqueue(r.metadata.name), { discard: true })
      ),
    }
  })

const invalidStatus = (
  generation: number,
  reason: string,
  message: string,
  previous: ReadonlyArray<Condition>,
): DeploymentRecordStatus => ({
  observedGeneration: generation,
  phase: "Failed",
  conditions: [
    cond("Available", false, reason, message, generation, previous),
    cond("Progressing", false, reason, message, generation, previous),
    cond("Degraded", true, reason, message, generation, previous),
  ],
})
