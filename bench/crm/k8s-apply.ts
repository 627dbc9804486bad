// bench/crm/k8s-apply.ts: the CRM's Kubernetes driver against the emulator (in this process),
// the CRM and ODGM from source as separate processes.
//  1. apply -> children applied: a DeploymentRecord written (server-side apply) until its last
//     child (the Service) arrives on a watch, one record at a time; p50/p99 over N records.
//  2. watch event -> reconcile: record written -> the controller's first write to it (the
//     finalizer) seen on a watch: the watch delivery, the queue and one API round trip.
//  3. reconcile throughput: every record changed at once (new image), records/s until every
//     status has the new observedGeneration.
//  4. memory (RSS) of the CRM process holding 0, N and M records (with their children).
// Usage: [WORKERS=8] npx bun bench/crm/k8s-apply.ts [records=100] [memory records=1000]
import * as k8s from "@kubernetes/client-node"
import { readFileSync } from "node:fs"
import { startEmulator } from "../../test/k8s-emulator/index.ts"
import { crdManifests } from "../../services/crm/src/driver/kubernetes/crds.ts"
import { makeTempDir, removeTempDir } from "@oprc/test-harness"
import { percentile } from "../lib/report"
import { startOdgmAndCrm } from "../lib/services"

const n = Number(process.argv[2] ?? 100)
const m = Number(process.argv[3] ?? 1000)
const dir = makeTempDir("bench-crm-k8s")
const emu = await startEmulator({ workloads: { readyDelayMs: 20 }, historyLimit: 50_000 })
for (const crd of crdManifests()) await emu.hooks.registerCrd(crd as never)
const { odgm, crm } = await startOdgmAndCrm({
  args: ["--driver", "kubernetes", "--kubeconfig", emu.kubeconfigPath],
  env: { OPRC_RECONCILE_RESYNC_MS: "60000", OPRC_RECONCILE_WORKERS: process.env.WORKERS ?? "8" },
})
const rss = () => Number(readFileSync(`/proc/${crm.pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)![1]) / 1024

const kc = new k8s.KubeConfig()
kc.loadFromFile(emu.kubeconfigPath)
const objects = k8s.KubernetesObjectApi.makeApiClient(kc)
const record = (name: string, image: string) => ({
  apiVersion: "oprc.dev/v1alpha1",
  kind: "DeploymentRecord",
  metadata: { name, namespace: "default" },
  spec: {
    unitId: name,
    deploymentKey: name,
    packageName: "bench",
    class: { key: `C${name.replace(/-/g, "")}`, bindings: [{ name: "f", function: "C.fn" }] },
    functions: [{ key: "C.fn", image, minScale: 1, maxScale: 1 }],
    template: "k8s-deployment",
  },
})
const apply = (name: string, image: string) =>
  objects.patch(record(name, image) as never, undefined, undefined, "bench", true, k8s.PatchStrategy.ServerSideApply)

// Watches: when each record's Service arrives, when its finalizer appears, when its status catches up.
const waiters = new Map<string, () => void>()
const wait = (key: string) => new Promise<void>((resolve) => waiters.set(key, resolve))
const fire = (key: string) => {
  const w = waiters.get(key)
  if (w !== undefined) waiters.delete(key), w()
}
const watch = new k8s.Watch(kc)
await watch.watch(
  "/api/v1/namespaces/default/services",
  {},
  (type, o) => type === "ADDED" && fire(`svc:${o.metadata.labels?.["oprc.dev/record"]}`),
  () => {},
)
await watch.watch("/apis/oprc.dev/v1alpha1/namespaces/default/deploymentrecords", {}, (_t, o) => {
  if ((o.metadata.finalizers ?? []).includes("oprc.dev/cleanup")) fire(`fin:${o.metadata.name}`)
  if (o.status?.observedGeneration === o.metadata.generation && o.status?.phase === "Running") {
    fire(`gen:${o.metadata.name}:${o.metadata.generation}`)
  }
}, () => {})

const rssIdle = rss()
const toChildren: Array<number> = []
const toFirstPass: Array<number> = []
for (let i = 0; i < n; i++) {
  const name = `r${i}`
  const svc = wait(`svc:${name}`)
  const fin = wait(`fin:${name}`)
  const t0 = performance.now()
  await apply(name, "ghcr.io/x/app:1")
  await fin.then(() => toFirstPass.push(performance.now() - t0))
  await svc
  toChildren.push(performance.now() - t0)
}
// Throughput: every record at generation 2 at once.
const done = Array.from({ length: n }, (_, i) => wait(`gen:r${i}:2`))
const t1 = performance.now()
await Promise.all(Array.from({ length: n }, (_, i) => apply(`r${i}`, "ghcr.io/x/app:2")))
await Promise.all(done)
const throughput = n / ((performance.now() - t1) / 1000)
await Bun.sleep(1000)
const rssN = rss()
// Memory with M records: the rest created 20 at a time, until each has its Service.
for (let i = n; i < m; i += 20) {
  const batch = Array.from({ length: Math.min(20, m - i) }, (_, j) => `r${i + j}`)
  const svcs = batch.map((name) => wait(`svc:${name}`))
  await Promise.all(batch.map((name) => apply(name, "ghcr.io/x/app:1")))
  await Promise.all(svcs)
}
await Bun.sleep(2000)
const rssM = rss()
const ms = (x: number) => `${x.toFixed(1)} ms`
console.log(`records: ${n} (one at a time), memory run: ${m}`)
console.log(`apply -> children applied: p50 ${ms(percentile(toChildren, 50))}, p99 ${ms(percentile(toChildren, 99))}`)
console.log(
  `record written -> first controller write (finalizer): p50 ${ms(percentile(toFirstPass, 50))}, p99 ${
    ms(percentile(toFirstPass, 99))
  }`,
)
console.log(
  `reconcile throughput (all ${n} changed at once -> status at the new generation): ${throughput.toFixed(0)} records/s`,
)
console.log(
  `CRM RSS: idle ${rssIdle.toFixed(0)} MiB, ${n} records ${rssN.toFixed(0)} MiB, ${m} records ${rssM.toFixed(0)} MiB`,
)
await crm.stop()
await odgm.stop()
await emu.stop()
removeTempDir(dir)
process.exit(0)
