import type { DeploymentUnit } from "@oprc/models"
import { API_VERSION, type DeploymentRecordSpec } from "./crds"
import type { KObject } from "./templates"

const nonEmpty = <T extends Record<string, unknown>>(o: T): Partial<T> =>
  Object.fromEntries(
    Object.entries(o).filter(([, v]) =>
      v !== "" && v !== undefined && !(typeof v === "object" && v !== null && Object.keys(v).length === 0)
    ),
  ) as Partial<T>

/** The DeploymentRecord of a unit: one per unit, named by its id, written by the CRM (field manager oprc-crm). */
export const recordOf = (unit: DeploymentUnit, namespace: string): KObject => {
  const bound = new Set(unit.cls.bindings.map((b) => b.function))
  const spec: DeploymentRecordSpec = {
    unitId: unit.id,
    deploymentKey: unit.deploymentKey,
    packageName: unit.packageName,
    packageVersion: unit.packageVersion,
    unitGeneration: unit.generation,
    class: {
      key: unit.cls.key,
      consistency: unit.cls.state.consistency,
      bindings: unit.cls.bindings.map((b) => ({
        name: b.name,
        function: b.function,
        access: b.access,
        stateless: b.stateless,
      })),
    },
    functions: unit.functions.filter((f) => bound.has(f.key)).map((f) => ({
      key: f.key,
      type: f.type,
      ...nonEmpty({ image: f.provision.image }),
      port: f.provision.port,
      concurrency: f.provision.concurrency,
      minScale: f.provision.minScale,
      maxScale: f.provision.maxScale,
      ...(Object.values(f.provision.resources).some((v) => v !== "")
        ? { resources: nonEmpty({ ...f.provision.resources }) }
        : {}),
      ...(Object.keys(f.config).length > 0 ? { config: { ...f.config } } : {}),
    })),
    odgm: {
      partitionCount: unit.odgm.partitionCount,
      replicaCount: unit.odgm.replicaCount,
      triggers: unit.cls.triggers.map((t) => ({
        event: t.event,
        source: t.source,
        target: {
          ...nonEmpty({ cls: t.target.cls, objectId: t.target.objectId }),
          function: t.target.function,
          ...(Object.keys(t.target.headers).length > 0 ? { headers: { ...t.target.headers } } : {}),
        },
      })),
    },
    nfr: {
      minThroughputRps: unit.nfr.minThroughputRps,
      maxLatencyP99Ms: unit.nfr.maxLatencyP99Ms,
      availability: unit.nfr.availability,
    },
    enforcement: unit.enforcement,
    template: unit.template,
  }
  return {
    apiVersion: API_VERSION,
    kind: "DeploymentRecord",
    metadata: {
      name: unit.id,
      namespace,
      labels: {
        "app.kubernetes.io/managed-by": "oprc-crm",
        "oprc.dev/deployment": unit.deploymentKey,
        "oprc.dev/cluster": unit.cluster,
      },
    },
    spec,
  }
}
