// Wires the store, API, controllers and HTTP front into one running emulator.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import type { Server } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Api } from "./api.ts"
import { INITIAL_NAMESPACES } from "./builtins.ts"
import { CrdController } from "./crd.ts"
import { GarbageCollector } from "./gc.ts"
import { kubeconfigYaml } from "./kubeconfig.ts"
import { Registry } from "./registry.ts"
import { startServer } from "./server.ts"
import { makeTls } from "./tls.ts"
import { Store, type StoreEvent } from "./store.ts"
import { KEDA_SCALED_OBJECT_CRD, KNATIVE_SERVICE_CRD } from "./thirdparty.ts"
import { clone, type Obj } from "./types.ts"
import { WatchHub } from "./watch.ts"
import { WorkloadControllers } from "./workloads.ts"

export interface EmulatorOptions {
  /** 0 (default) picks a free port. */
  port?: number
  host?: string
  /** Where to write the kubeconfig; default: a new temporary directory. */
  kubeconfigPath?: string
  /**
   * Bearer token clients must send (401 otherwise); the kubeconfig carries it. Off by default:
   * kubectl never sends a token over plain http, so only client-node can use it.
   */
  token?: string
  /** Events kept for watch replay and consistent lists; older resourceVersions get 410. */
  historyLimit?: number
  bookmarkIntervalMs?: number
  /** Delay before a new CRD is NamesAccepted, and again before it is Established. */
  crdEstablishDelayMs?: number
  /** Delay of the garbage collector and namespace controller after each change. */
  gcDelayMs?: number
  /** Simulated workload controllers; off unless given. */
  workloads?: { readyDelayMs?: number } | boolean
  /**
   * Serve HTTPS with a fresh self-signed CA (openssl); the kubeconfig carries the CA, so
   * clients verify the server. Off by default.
   */
  tls?: boolean
  /** Register the Knative Serving Service CRD at start. */
  knative?: boolean
  /** Register the KEDA ScaledObject CRD at start. */
  keda?: boolean
}

export interface EmulatorHooks {
  /** Forgets all watch history: older resourceVersions and continue tokens get 410 Expired. */
  compact(): void
  /** Ends every open watch stream (clients re-watch from their last resourceVersion). */
  dropWatches(): number
  /** Delays every request by `ms` before it is handled. */
  setLatency(ms: number): void
  /** Makes a simulated workload fail until `succeedWorkload`. Kind: Deployment, StatefulSet, Job, KnativeService, ScaledObject. */
  failWorkload(kind: string, namespace: string, name: string, reason?: string, message?: string): void
  succeedWorkload(kind: string, namespace: string, name: string): void
  /** Registers a CRD (as if applied) and resolves once it is Established. */
  registerCrd(crd: Obj): Promise<void>
  /** The last requests received (`GET /api/v1/...?watch=true`), oldest first, at most 1000. */
  requests(): string[]
  /** The current global resourceVersion. */
  resourceVersion(): number
  /** Number of open watch streams. */
  openWatches(): number
  /** The emulator's API, for assertions that need server-side state (e.g. what the GC left). */
  api: Api
}

export interface Emulator {
  url: string
  kubeconfigPath: string
  /** PEM of the CA that signed the server certificate (with `tls: true`), and a file holding it. */
  caCert?: string
  caPath?: string
  hooks: EmulatorHooks
  stop(): Promise<void>
}

export async function startEmulator(opts: EmulatorOptions = {}): Promise<Emulator> {
  const store = new Store(opts.historyLimit ?? 10_000)
  const registry = new Registry()
  const api = new Api(store, registry)
  const hub = new WatchHub()
  const crds = new CrdController(
    api,
    registry,
    { establishDelayMs: opts.crdEstablishDelayMs ?? 50, cleanupPollMs: 50 },
    (s) => hub.dropStorage(s),
  )
  const gc = new GarbageCollector(api, registry, opts.gcDelayMs ?? 20)
  const workloadOpts = typeof opts.workloads === "object" ? opts.workloads : opts.workloads ? {} : undefined
  const workloads = workloadOpts
    ? new WorkloadControllers(api, registry, { readyDelayMs: workloadOpts.readyDelayMs ?? 200 })
    : undefined
  // Controllers react after the write that caused the event has returned, as a real
  // controller does; watch streams get events synchronously, in resourceVersion order.
  const later = (fn: (e: StoreEvent) => void) => (e: StoreEvent) => queueMicrotask(() => fn(e))
  store.subscribe(later((e) => crds.onEvent(e)))
  store.subscribe(later((e) => gc.onEvent(e)))
  if (workloads) store.subscribe(later((e) => workloads.onEvent(e)))

  const nsType = registry.get("", "v1", "namespaces")!
  for (const name of INITIAL_NAMESPACES) {
    api.create({ rt: nsType, namespace: "" }, { metadata: { name } }, { fieldManager: "kube-apiserver" })
  }

  let latency = 0
  const requestLog: string[] = []
  const token = opts.token
  const host = opts.host ?? "127.0.0.1"
  const workDir = mkdtempSync(join(tmpdir(), "k8s-emulator-"))
  const tls = opts.tls ? await makeTls(workDir, host) : undefined
  let server: Server | undefined
  server = await startServer(
    {
      api,
      hub,
      bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 1000,
      latencyMs: () => latency,
      onRequest: (line) => {
        requestLog.push(line)
        if (requestLog.length > 1000) requestLog.shift()
      },
      ...(token !== undefined ? { token } : {}),
      address: () => `${host}:${(server?.address() as AddressInfo | null)?.port ?? 0}`,
    },
    host,
    opts.port ?? 0,
    tls,
  )
  const port = (server.address() as AddressInfo).port
  const url = `${tls ? "https" : "http"}://${host}:${port}`
  const kubeconfigPath = opts.kubeconfigPath ?? join(workDir, "kubeconfig")
  writeFileSync(kubeconfigPath, kubeconfigYaml(url, token ?? "emulator", tls?.ca))

  const crdType = registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")!
  const registerCrd = async (crd: Obj) => {
    const name = crd.metadata.name
    if (!api.find(crdType, "", name)) {
      api.create({ rt: crdType, namespace: "" }, clone(crd), { fieldManager: "emulator" })
    }
    const deadline = Date.now() + 10_000
    while (
      !(api.find(crdType, "", name)?.status?.conditions ?? []).some((c: Obj) =>
        c.type === "Established" && c.status === "True"
      )
    ) {
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established within 10 s`)
      await Bun.sleep(5)
    }
  }
  if (opts.knative) await registerCrd(KNATIVE_SERVICE_CRD)
  if (opts.keda) await registerCrd(KEDA_SCALED_OBJECT_CRD)

  const hooks: EmulatorHooks = {
    compact: () => store.compact(),
    dropWatches: () => hub.dropAll(),
    setLatency: (ms) => {
      latency = ms
    },
    failWorkload: (kind, ns, name, reason, message) => {
      if (!workloads) throw new Error("workload controllers are off: start the emulator with { workloads: true }")
      workloads.fail(kind, ns, name, reason, message)
    },
    succeedWorkload: (kind, ns, name) => {
      if (!workloads) throw new Error("workload controllers are off: start the emulator with { workloads: true }")
      workloads.succeed(kind, ns, name)
    },
    registerCrd,
    requests: () => [...requestLog],
    resourceVersion: () => store.currentRv,
    openWatches: () => hub.size,
    api,
  }

  return {
    url,
    kubeconfigPath,
    ...(tls ? { caCert: tls.ca, caPath: join(workDir, "ca.crt") } : {}),
    hooks,
    async stop() {
      crds.stop()
      gc.stop()
      workloads?.stop()
      hub.dropAll()
      await new Promise<void>((resolve) => {
        server!.close(() => resolve())
        server!.closeAllConnections?.()
      })
      rmSync(workDir, { recursive: true, force: true })
    },
  }
}
