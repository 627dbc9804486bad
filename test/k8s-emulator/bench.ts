#!/usr/bin/env bun
// How fast the emulator answers what a controller does most: server-side apply of a Deployment
// and a merge patch among many objects. Bounded (a few seconds), loopback only.
// Usage: npx bun test/k8s-emulator/bench.ts [--workloads]
import { startEmulator } from "./index.ts"

const workloads = process.argv.includes("--workloads")
const emu = await startEmulator(workloads ? { workloads: { readyDelayMs: 50 } } : {})
const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(xs.length * p))]!.toFixed(2)

const deployment = (i: number, image: string) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: `d${i}`, labels: { app: `d${i}` } },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: `d${i}` } },
    template: {
      metadata: { labels: { app: `d${i}` } },
      spec: { containers: [{ name: "app", image, env: [{ name: "A", value: "1" }], ports: [{ containerPort: 80 }] }] },
    },
  },
})

async function timed(n: number, call: (i: number) => Promise<Response>): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const t = performance.now()
    const res = await call(i)
    await res.text()
    if (!res.ok) throw new Error(`request ${i} failed: ${res.status}`)
    out.push(performance.now() - t)
  }
  return out.sort((a, b) => a - b)
}

const apply = (i: number, image: string) =>
  fetch(`${emu.url}/apis/apps/v1/namespaces/default/deployments/d${i}?fieldManager=bench`, {
    method: "PATCH",
    headers: { "Content-Type": "application/apply-patch+yaml" },
    body: JSON.stringify(deployment(i, image)),
  })

const creates = await timed(500, (i) => apply(i, "nginx:1"))
const updates = await timed(500, (i) => apply(i, "nginx:2"))
console.log(`SSA apply, create (500): p50 ${pct(creates, 0.5)} ms, p99 ${pct(creates, 0.99)} ms`)
console.log(`SSA apply, change (500): p50 ${pct(updates, 0.5)} ms, p99 ${pct(updates, 0.99)} ms`)

// 1000 owners with 4 dependents each, written inside the emulator, then patches over HTTP.
const api = emu.hooks.api
const cm = api.registry.get("", "v1", "configmaps")!
for (let i = 0; i < 1000; i++) {
  const o = api.create({ rt: cm, namespace: "default" }, { metadata: { name: `o${i}` } }, { fieldManager: "bench" })
  for (let j = 0; j < 4; j++) {
    api.create({ rt: cm, namespace: "default" }, {
      metadata: {
        name: `o${i}-d${j}`,
        ownerReferences: [{ apiVersion: "v1", kind: "ConfigMap", name: `o${i}`, uid: o.metadata.uid }],
      },
    }, { fieldManager: "bench" })
  }
}
await Bun.sleep(200)
const patches = await timed(
  500,
  (i) =>
    fetch(`${emu.url}/api/v1/namespaces/default/configmaps/o${i}?fieldManager=bench`, {
      method: "PATCH",
      headers: { "Content-Type": "application/merge-patch+json" },
      body: JSON.stringify({ data: { n: String(i) } }),
    }),
)
console.log(`merge patch among 6000 objects (500): p50 ${pct(patches, 0.5)} ms, p99 ${pct(patches, 0.99)} ms`)
const t0 = performance.now()
await fetch(`${emu.url}/api/v1/namespaces/default/configmaps/o999`, { method: "DELETE" })
while (api.find(cm, "default", "o999-d3")) await Bun.sleep(1)
console.log(`owner deleted -> its 4 dependents collected: ${(performance.now() - t0).toFixed(1)} ms`)
const l0 = performance.now()
const list = (await (await fetch(`${emu.url}/api/v1/configmaps`)).json()) as { items: unknown[] }
console.log(
  `list of ${list.items.length} ConfigMaps: ${(performance.now() - l0).toFixed(1)} ms; rss ${
    (process.memoryUsage().rss / 1e6).toFixed(0)
  } MB`,
)
await emu.stop()
