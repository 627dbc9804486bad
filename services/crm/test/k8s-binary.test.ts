import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { parse, stringify } from "yaml"
import {
  binaryDir,
  diedWith,
  freePorts,
  makeTempDir,
  removeTempDir,
  type ServerProcess,
  spawnServer,
  waitForHttp,
} from "@oprc/test-harness"
import { Effect } from "effect"
import { deploymentUnitToProto } from "@oprc/models"
import {
  allReady,
  counterUnit,
  eventually as until,
  repoRoot,
  runtimeClient,
  spawnCompiledCrm,
  spawnCompiledOdgm,
  spawnPmOfLocalCluster,
  stopInOrder,
} from "./support"
import { startK8s } from "./k8s-support"
const eventually = until

// The acceptance path: PM -> dist/oprc-crm --driver kubernetes --kubeconfig FILE -> the emulator
// over TLS (the kubeconfig's CA verified by the compiled binary's bundled undici), with ODGM as a
// compiled binary too. A deployment reaches Running when the simulated Knative Service reports ready.
// The compiled binaries, built once per test process (test/harness binaries.ts).
let buildDir: string
const dataDir = makeTempDir("crm-k8s-bin-data")
let k: Awaited<ReturnType<typeof startK8s>>
let pm: ServerProcess
let crm: ServerProcess
let odgm: ServerProcess
let PM: string

const json = async (res: Response) => {
  const text = await res.text()
  if (res.status >= 300) throw new Error(`HTTP ${res.status}: ${text}`)
  return JSON.parse(text)
}

// Under `bun test`, client-node's TLS options are ignored (Bun's undici shim), so the test reads
// the emulator with fetch and the emulator's CA; the compiled CRM uses client-node with the kubeconfig.
const get = async (path: string) => {
  const res = await fetch(k.emulator.url + path, { tls: { ca: k.emulator.caCert } } as RequestInit)
  return res.status === 404 ? undefined : ((await res.json()) as any)
}

beforeAll(async () => {
  buildDir = await binaryDir()
  k = await startK8s({ tls: true, workloads: { readyDelayMs: 300 } })
  const ports = await freePorts(3)
  PM = `http://127.0.0.1:${ports[0]}`
  const ODGM = `http://127.0.0.1:${ports[2]}`
  odgm = spawnCompiledOdgm({ buildDir, dataDir, port: ports[2]! })
  crm = spawnCompiledCrm({
    buildDir,
    dataDir,
    port: ports[1]!,
    odgmUrl: ODGM,
    args: ["--driver", "kubernetes", "--kubeconfig", k.emulator.kubeconfigPath],
    env: { OPRC_DRIVER_KUBERNETES_LEASE_DURATION_MS: "1500", OPRC_RECONCILE_RESYNC_MS: "2000" },
  })
  pm = spawnPmOfLocalCluster({ buildDir, dataDir, port: ports[0]!, crmPort: ports[1]! })
  await allReady([[ports[2]!, odgm], [ports[1]!, crm], [ports[0]!, pm]])
}, 240_000)

afterAll(async () => {
  await stopInOrder([pm, crm, odgm])
  await k?.emulator.stop()
  removeTempDir(dataDir)
})

describe("PM -> oprc-crm (kubernetes driver, compiled) -> Kubernetes API emulator over TLS", () => {
  test(
    "the counter (as a container image, minScale 0: Knative) reaches Running when the simulated Knative Service is ready; the PM shows the cluster's conditions; delete cleans up",
    async () => {
      const pkg = parse(readFileSync(join(repoRoot, "examples/counter/package.yaml"), "utf8"))
      pkg.functions[0].provision = { image: "ghcr.io/oprc/counter:1.0.0", port: 8080 }
      await json(
        await fetch(`${PM}/api/v1/packages`, {
          method: "POST",
          headers: { "content-type": "application/yaml" },
          body: stringify(pkg),
        }),
      )
      await json(
        await fetch(`${PM}/api/v1/deployments`, {
          method: "POST",
          headers: { "content-type": "application/yaml" },
          body: Bun.file(join(repoRoot, "examples/counter/deployment.yaml")),
        }),
      )
      const running = await json(await fetch(`${PM}/api/v1/deployments/counter-dev?waitFor=Running&timeoutMs=30000`))
      expect(running.status.phase).toBe("Running")
      const cluster = running.status.clusters[0]
      // minScale 0 and no template: Knative, scaled to zero (0 of 0 replicas is all there is to run).
      expect(cluster.message).toContain("Counter.fn 0/0")
      expect(Object.fromEntries(cluster.conditions.map((c: { type: string; status: string }) => [c.type, c.status])))
        .toMatchObject({ Available: "True", Progressing: "False", Degraded: "False" })
      const record = await get("/apis/oprc.dev/v1alpha1/namespaces/default/deploymentrecords/counter-dev-local")
      expect(record.status.template).toBe("knative")
      expect(record.status.templateReason).toContain("minScale 0 asks for scale to zero")
      const ksvc = await get("/apis/serving.knative.dev/v1/namespaces/default/services/counter-dev-local-counter-fn")
      expect(ksvc.spec.template.spec.containers[0].image).toBe("ghcr.io/oprc/counter:1.0.0")
      expect(ksvc.spec.template.metadata.annotations["autoscaling.knative.dev/min-scale"]).toBe("0")

      const deleted = await fetch(`${PM}/api/v1/deployments/counter-dev`, { method: "DELETE" })
      expect(deleted.status).toBeLessThan(300)
      await eventually(
        "record gone",
        async () => ((await get("/apis/oprc.dev/v1alpha1/namespaces/default/deploymentrecords/counter-dev-local")) ===
            undefined
          ? true
          : undefined),
        30_000,
      )
      await eventually(
        "Knative Service collected",
        async () =>
          (await get("/apis/serving.knative.dev/v1/namespaces/default/services")).items.length === 0 ? true : undefined,
        10_000,
      )
    },
    120_000,
  )
})

describe("in-cluster: service account token and CA instead of a kubeconfig", () => {
  test(
    "the compiled CRM without --kubeconfig uses KUBERNETES_SERVICE_HOST/PORT, the token and the CA (verified), and runs a unit",
    async () => {
      const cluster = await startK8s({ tls: true, token: "sa-token-123", workloads: { readyDelayMs: 100 } })
      const sa = join(dataDir, "sa")
      mkdirSync(join(sa, "var/run/secrets/kubernetes.io/serviceaccount"), { recursive: true })
      writeFileSync(join(sa, "var/run/secrets/kubernetes.io/serviceaccount/token"), "sa-token-123")
      writeFileSync(join(sa, "var/run/secrets/kubernetes.io/serviceaccount/ca.crt"), cluster.emulator.caCert!)
      const url = new URL(cluster.emulator.url)
      const [port] = await freePorts(1)
      const inCluster = spawnServer({
        name: "oprc-crm-in-cluster",
        cmd: [
          join(buildDir, "oprc-crm"),
          "--driver",
          "kubernetes",
          "--port",
          String(port),
          "--host",
          "127.0.0.1",
          "--odgm-url",
          `http://127.0.0.1:1`,
          "--storage",
          "memory",
        ],
        cwd: dataDir,
        ports: [port!],
        env: {
          KUBERNETES_SERVICE_HOST: url.hostname,
          KUBERNETES_SERVICE_PORT: url.port,
          OPRC_DRIVER_KUBERNETES_SERVICE_ACCOUNT_ROOT: sa,
          OPRC_DRIVER_KUBERNETES_LEASE_DURATION_MS: "1500",
        },
        logFile: join(dataDir, "crm-in-cluster.log"),
      })
      try {
        await waitForHttp(`http://127.0.0.1:${port}/healthz`, (status) => status === 200, 30_000, {
          abortIf: diedWith(inCluster),
        })
        const unit = counterUnit(
          { id: "incluster-local", deploymentKey: "incluster", template: "k8s-deployment" },
          [],
          { image: "ghcr.io/oprc/counter:1", minScale: 1, maxScale: 1 },
        )
        await Effect.runPromise(
          runtimeClient(`http://127.0.0.1:${port}`).applyDeploymentUnit({ unit: deploymentUnitToProto(unit) }),
        )
        // ODGM is unreachable here (port 1), so the unit stays Progressing; the workloads are what this checks.
        const rec = await eventually("record reconciled in-cluster", async () => {
          const res = await fetch(
            `${cluster.emulator.url}/apis/oprc.dev/v1alpha1/namespaces/default/deploymentrecords/incluster-local`,
            { headers: { authorization: "Bearer sa-token-123" }, tls: { ca: cluster.emulator.caCert } } as RequestInit,
          )
          const r = res.status === 200 ? ((await res.json()) as any) : undefined
          return r?.status?.conditions?.find((c: any) => c.type === "Available")?.status === "True" ? r : undefined
        }, 20_000)
        expect(rec.status.conditions.find((c: any) => c.type === "Progressing").reason).toBe("OdgmUnavailable")
      } finally {
        await inCluster.stop()
        await cluster.emulator.stop()
      }
    },
    60_000,
  )
})
