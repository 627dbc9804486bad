import { Effect } from "effect"
import type { KubeClient } from "./KubeClient"
import { type KObject, type PlannedFunction, portOf, replicasOf, type TemplateBase } from "./templates"

interface ObservedFunction {
  function: string
  desiredReplicas: number
  readyReplicas: number
  url?: string
  message?: string
}

const condition = (o: KObject | undefined, type: string) =>
  (o?.status?.conditions ?? []).find((c: any) => c.type === type)

/** What the cluster says about a record's children: per function ready/desired, its URL, failures. */
export const observeChildren = (
  kube: KubeClient,
  rendered: ReadonlyArray<{ fn: PlannedFunction; objects: ReadonlyArray<KObject> }>,
  base: TemplateBase,
) =>
  Effect.tryPromise(async () => {
    const failed: Array<string> = []
    const functions: Array<ObservedFunction> = []
    for (const { fn, objects } of rendered) {
      const main = objects[0]!
      const live = await kube.read(main.apiVersion, main.kind, main.metadata.name)
      const current = live !== undefined &&
        Number(live.status?.observedGeneration ?? 0) >= Number(live.metadata.generation ?? 1)
      if (base === "knative") {
        const ready = condition(live, "Ready")
        const min = replicasOf(fn, true)
        if (ready?.status === "False") {
          failed.push(`function ${fn.key}: Knative Service ${main.metadata.name}: ${ready.message ?? ready.reason}`)
        }
        const ok = current && ready?.status === "True"
        functions.push({
          function: fn.key,
          desiredReplicas: min,
          readyReplicas: ok ? min : 0,
          ...(ok && live?.status?.url ? { url: live.status.url } : {}),
          message: ok ? "" : ready?.message ?? "waiting for the Knative Service",
        })
      } else if (base === "job") {
        const desired = Number(main.spec.parallelism)
        const done = condition(live, "Complete")?.status === "True"
        const jobFailed = condition(live, "Failed")
        if (jobFailed?.status === "True") {
          failed.push(`function ${fn.key}: Job ${main.metadata.name}: ${jobFailed.message ?? jobFailed.reason}`)
        }
        const ready = done ? desired : Number(live?.status?.ready ?? live?.status?.active ?? 0)
        functions.push({
          function: fn.key,
          desiredReplicas: desired,
          readyReplicas: Math.min(desired, ready),
          message: done ? "" : "job running",
        })
      } else {
        const desired = main.spec.replicas ?? Math.max(replicasOf(fn, false), Number(live?.spec?.replicas ?? 0))
        const ready = current ? Number(live?.status?.readyReplicas ?? 0) : 0
        const progressing = condition(live, "Progressing")
        if (progressing?.status === "False") {
          failed.push(
            `function ${fn.key}: Deployment ${main.metadata.name}: ${progressing.message ?? progressing.reason}`,
          )
        }
        const url = `http://${main.metadata.name}.${kube.namespace}.svc:80`
        functions.push({
          function: fn.key,
          desiredReplicas: desired,
          readyReplicas: Math.min(desired, ready),
          ...(ready > 0 ? { url } : {}),
          message: ready >= desired ? "" : `${ready}/${desired} replicas ready (port ${portOf(fn)})`,
        })
      }
    }
    const allReady = failed.length === 0 &&
      functions.every((f) => f.readyReplicas >= f.desiredReplicas && (f.desiredReplicas > 0 || base === "knative"))
    const summary = functions.map((f) => `${f.function} ${f.readyReplicas}/${f.desiredReplicas}`).join(", ")
    return { functions, failed, allReady, summary }
  })
