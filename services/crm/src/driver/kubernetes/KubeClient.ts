import * as k8s from "@kubernetes/client-node"
import { API_VERSION, GROUP, VERSION } from "./crds"
import type { KObject } from "./templates"

/** The field managers the CRM writes with (server-side apply): spec, NFR scale, controller status/children. */
export const FIELD_MANAGER = "oprc-crm"
export const SCALE_MANAGER = "oprc-crm-nfr"
export const CONTROLLER_MANAGER = "oprc-crm-controller"
export const FINALIZER = "oprc.dev/cleanup"

export interface KubeConnection {
  /** A kubeconfig file; absent = in-cluster (service account token and CA). */
  readonly kubeconfig: string | undefined
  /** In-cluster: prefix of the service account's token and CA paths ("" = the real ones). */
  readonly serviceAccountRoot?: string
  readonly namespace: string
}

/** An API call failed; `code` is the HTTP status (0 when the server did not answer). */
export class KubeCallError extends Error {
  constructor(readonly code: number, readonly reason: string, message: string) {
    super(message)
  }
}

const asKubeError = (e: unknown): KubeCallError => {
  if (e instanceof k8s.ApiException) {
    let body: any = e.body
    try {
      body = typeof body === "string" ? JSON.parse(body) : body
    } catch {}
    return new KubeCallError(e.code, body?.reason ?? "", body?.message ?? String(e.message).slice(0, 300))
  }
  return new KubeCallError(0, "Unreachable", e instanceof Error ? e.message : String(e))
}

const call = async <T>(p: () => Promise<T>): Promise<T> => {
  try {
    return await p()
  } catch (e) {
    throw asKubeError(e)
  }
}

export const loadKubeConfig = (conn: KubeConnection): k8s.KubeConfig => {
  const kc = new k8s.KubeConfig()
  // In-cluster: /var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt} and KUBERNETES_SERVICE_HOST.
  if (conn.kubeconfig === undefined) kc.loadFromCluster(conn.serviceAccountRoot ?? "")
  else kc.loadFromFile(conn.kubeconfig)
  const server = kc.getCurrentCluster()?.server ?? ""
  if (server === "" || server.includes("undefined")) {
    throw new Error(
      conn.kubeconfig === undefined
        ? "driver.kubernetes.kubeconfig is not set and this is not a pod (KUBERNETES_SERVICE_HOST/PORT are unset): give --kubeconfig FILE"
        : `the kubeconfig ${conn.kubeconfig} has no current cluster`,
    )
  }
  return kc
}

const ssa = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.ServerSideApply)
const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch)

/** The few API calls the driver and its controller make, over client-node (kubeconfig TLS honoured). */
export const makeKubeClient = (kc: k8s.KubeConfig, namespace: string, identity = "oprc-crm") => {
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc)
  const custom = kc.makeApiClient(k8s.CustomObjectsApi)
  const core = kc.makeApiClient(k8s.CoreV1Api)
  const coordination = kc.makeApiClient(k8s.CoordinationV1Api)
  const version = kc.makeApiClient(k8s.VersionApi)
  const cr = (plural: string) => ({ group: GROUP, version: VERSION, namespace, plural })

  return {
    kc,
    namespace,
    /** Server-side apply with a field manager; `force` takes over fields another manager set (a controller owns its children). */
    apply: (obj: KObject, fieldManager: string, force = true) =>
      call(() =>
        objects.patch(
          obj as unknown as k8s.KubernetesObject,
          undefined,
          undefined,
          fieldManager,
          force,
          k8s.PatchStrategy.ServerSideApply,
        ) as unknown as Promise<KObject>
      ),
    read: async (apiVersion: string, kind: string, name: string): Promise<KObject | undefined> => {
      try {
        return await call(() =>
          objects.read({ apiVersion, kind, metadata: { name, namespace } }) as unknown as Promise<KObject>
        )
      } catch (e) {
        if (e instanceof KubeCallError && e.code === 404) return undefined
        throw e
      }
    },
    list: (apiVersion: string, kind: string, labelSelector?: string) =>
      call(() => objects.list(apiVersion, kind, namespace, undefined, undefined, undefined, undefined, labelSelector))
        .then((l) => l.items as unknown as Array<KObject>),
    /** A list with its resourceVersion (for a reflector). */
    listRaw: (apiVersion: string, kind: string, labelSelector?: string) =>
      call(() =>
        objects.list(apiVersion, kind, namespace, undefined, undefined, undefined, undefined, labelSelector)
      ) as unknown as Promise<{ items: Array<KObject>; metadata?: { resourceVersion?: string } }>,
    remove: async (apiVersion: string, kind: string, name: string, propagationPolicy = "Background"): Promise<void> => {
      try {
        await call(() =>
          objects.delete(
            { apiVersion, kind, metadata: { name, namespace } },
            undefined,
            undefined,
            undefined,
            undefined,
            propagationPolicy,
          )
        )
      } catch (e) {
        if (!(e instanceof KubeCallError && e.code === 404)) throw e
      }
    },
    listRecords: (plural: string) =>
      call(() => custom.listNamespacedCustomObject(cr(plural))) as Promise<
        k8s.KubernetesListObject<KObject & k8s.KubernetesObject>
      >,
    /** Status through the status subresource (server-side apply, the controller's field manager). */
    applyRecordStatus: (name: string, status: unknown) =>
      call(() =>
        custom.patchNamespacedCustomObjectStatus({
          ...cr("deploymentrecords"),
          name,
          body: { apiVersion: API_VERSION, kind: "DeploymentRecord", metadata: { name }, status },
          fieldManager: CONTROLLER_MANAGER,
          force: true,
        }, ssa)
      ),
    /** A merge patch guarded by resourceVersion (409 when the record changed meanwhile: retried by the queue). */
    setFinalizers: (name: string, resourceVersion: string, finalizers: ReadonlyArray<string>) =>
      call(() =>
        custom.patchNamespacedCustomObject({
          ...cr("deploymentrecords"),
          name,
          body: { metadata: { resourceVersion, finalizers } },
          fieldManager: CONTROLLER_MANAGER,
        }, merge)
      ),
    event: (involved: KObject, type: "Normal" | "Warning", reason: string, message: string) => {
      const now = new Date()
      return call(() =>
        core.createNamespacedEvent({
          namespace,
          body: {
            metadata: { generateName: `${involved.metadata.name}.`, namespace },
            involvedObject: {
              apiVersion: involved.apiVersion,
              kind: involved.kind,
              name: involved.metadata.name,
              namespace,
              uid: involved.metadata.uid as string,
            },
            type,
            reason,
            message: message.slice(0, 1024),
            source: { component: "oprc-crm", host: identity },
            firstTimestamp: now,
            lastTimestamp: now,
            count: 1,
            reportingComponent: "oprc.dev/crm",
            reportingInstance: identity,
          },
        })
      )
    },
    readLease: async (name: string): Promise<k8s.V1Lease | undefined> => {
      try {
        return await call(() => coordination.readNamespacedLease({ name, namespace }))
      } catch (e) {
        if (e instanceof KubeCallError && e.code === 404) return undefined
        throw e
      }
    },
    createLease: (lease: k8s.V1Lease) => call(() => coordination.createNamespacedLease({ namespace, body: lease })),
    replaceLease: (lease: k8s.V1Lease) =>
      call(() => coordination.replaceNamespacedLease({ name: lease.metadata!.name!, namespace, body: lease })),
    version: () => call(() => version.getCode()),
  }
}
export type KubeClient = ReturnType<typeof makeKubeClient>
