import { Effect, Layer, ManagedRuntime, References, Schema } from "effect"
import { Health } from "@oprc/observability"
import { startPm, shopYaml, http, fastOrchestration } from "./test/support"
import { Packages } from "./src/packages/Packages"
import { PmStore } from "./src/storage/PmStore"
import { PmServices } from "./src/PmApp"
import { PmConfig } from "./src/config"
const config = Schema.decodeUnknownSync(PmConfig)({ storage: { kind: "memory" }, orchestration: fastOrchestration })
const rt = ManagedRuntime.make(PmServices(config).pipe(Layer.provideMerge(Health.layer), Layer.provide(Layer.succeed(References.MinimumLogLevel, "Error"))))
const pm = await startPm()
const api = http(pm.url)
await api.post("/api/v1/packages", await shopYaml(), "application/yaml")
await rt.runPromise(Effect.flatMap(Effect.service(Packages), (p) => Effect.flatMap(p.get("nope"), () => Effect.void).pipe(Effect.ignore)))
const text = await shopYaml()
const { parsePackageText } = await import("@oprc/models")
const file = await Effect.runPromise(parsePackageText(text, "application/yaml"))
await rt.runPromise(Effect.flatMap(Effect.service(Packages), (p) => p.create(file.package)))
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000 }
const time = async (label: string, n: number, f: () => Promise<unknown>) => {
  const c = cpu(); const t = performance.now()
  for (let i = 0; i < n; i++) await f()
  console.log(label, ((performance.now() - t) * 1000 / n).toFixed(0), "us wall,", ((cpu() - c) * 1000 / n).toFixed(0), "us cpu")
}
await time("store.get direct", 500, () => rt.runPromise(Effect.flatMap(Effect.service(PmStore), (s) => s.packages.get("shop"))))
await time("Packages.get direct", 500, () => rt.runPromise(Effect.flatMap(Effect.service(Packages), (s) => s.get("shop"))))
await time("REST get", 500, () => fetch(`${pm.url}/api/v1/packages/shop`).then(r => r.text()))
await time("Connect get", 500, () => fetch(`${pm.url}/oprc.pm.v1.PackageService/GetPackage`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"name":"shop"}' }).then(r => r.text()))
await time("healthz", 500, () => fetch(`${pm.url}/healthz`).then(r => r.text()))
await time("Connect health", 500, () => fetch(`${pm.url}/grpc.health.v1.Health/Check`, { method: "POST", headers: { "content-type": "application/json" }, body: '{}' }).then(r => r.text()))
let i = 0
await time("Packages.create direct (small)", 300, () => rt.runPromise(Effect.flatMap(Effect.service(Packages), (s) => s.create({ ...file.package, name: `p${i++}` as any, classes: [], functions: [] }))))
await time("REST create small", 300, () => fetch(`${pm.url}/api/v1/packages`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: `q${i++}`, version: "1.0.0" }) }).then(r => r.text()))
await pm.stop(); await rt.dispose()
