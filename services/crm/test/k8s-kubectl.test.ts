// kubectl (Debian's kubernetes-client 1.20, installed when missing) with the generated CRDs and RBAC
// against the emulator, and a CRM (kubernetes driver) reconciling a record kubectl created.
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Emulator, startEmulator } from "@oprc/k8s-emulator"
import { kubectl120 } from "../../../test/k8s-emulator/kubectl.ts"
import { startK8sCrm } from "./k8s-support"
import { eventually, repoRoot, startOdgm } from "./support"

let emulator: Emulator
let bin: string
let dir: string

beforeAll(async () => {
  bin = await kubectl120()
  emulator = await startEmulator({ workloads: { readyDelayMs: 200 } })
  dir = mkdtempSync(join(tmpdir(), "crm-kubectl-"))
}, 300_000)
afterAll(async () => {
  await emulator?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

const kubectl = async (a: Array<string>) => {
  const p = Bun.spawn([
    bin,
    "--kubeconfig",
    emulator.kubeconfigPath,
    "--cache-dir",
    join(dir, "cache"),
    "--request-timeout",
    "20s",
    ...a,
  ], { cwd: repoRoot, stdout: "pipe", stderr: "pipe" })
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
  if (code !== 0) throw new Error(`kubectl ${a.join(" ")} exited ${code}: ${err}`)
  return out
}

const record = `apiVersion: oprc.dev/v1alpha1
kind: DeploymentRecord
metadata: {name: hello}
spec:
  unitId: hello
  deploymentKey: hello
  packageName: demo
  class: {key: Hello, bindings: [{name: greet, function: Hello.fn}]}
  functions: [{key: Hello.fn, image: ghcr.io/oprc/hello:1, port: 8080, minScale: 1, maxScale: 1}]
  template: k8s-deployment
`

describe("kubectl with the generated CRDs", () => {
  test(
    "apply -f deploy/crds and deploy/rbac; a record applied with kubectl is reconciled; get shows the printer columns, describe the conditions and Events; delete runs the finalizer",
    async () => {
      const crds = await kubectl(["apply", "-f", "deploy/crds"])
      expect(crds).toContain("customresourcedefinition.apiextensions.k8s.io/deploymentrecords.oprc.dev created")
      await kubectl([
        "wait",
        "--for",
        "condition=established",
        "--timeout",
        "20s",
        "crd/deploymentrecords.oprc.dev",
        "crd/deploymenttemplates.oprc.dev",
        "crd/environmentconfigs.oprc.dev",
      ])
      await kubectl(["apply", "-f", "deploy/rbac/namespace.yaml"])
      expect(await kubectl(["apply", "-f", "deploy/rbac/rbac.yaml"])).toContain(
        "clusterrole.rbac.authorization.k8s.io/oprc-crm created",
      )

      const odgm = await startOdgm()
      const crm = await startK8sCrm(odgm.url, emulator.kubeconfigPath, { identity: "kubectl-crm" })
      try {
        writeFileSync(join(dir, "record.yaml"), record)
        expect(await kubectl(["apply", "-f", join(dir, "record.yaml")])).toContain(
          "deploymentrecord.oprc.dev/hello created",
        )
        const table = await eventually("Available in kubectl get", async () => {
          const out = await kubectl(["get", "drec"])
          return /hello\s+Hello\s+k8s-deployment\s+Running\s+True/.test(out) ? out : undefined
        }, 15_000)
        expect(table.split("\n")[0]).toMatch(/NAME\s+CLASS\s+TEMPLATE\s+PHASE\s+AVAILABLE\s+AGE/)
        const described = await kubectl(["describe", "deploymentrecord", "hello"])
        expect(described).toContain("Reason:                ReplicasReady")
        expect(described).toMatch(/Normal\s+ReplicasReady/)
        expect(await kubectl(["get", "deployments", "-l", "oprc.dev/record=hello", "-o", "name"])).toContain(
          "deployment.apps/hello-hello-fn",
        )
        await kubectl(["delete", "drec", "hello", "--wait=true", "--timeout=20s"])
        await eventually(
          "children collected",
          async () => ((await kubectl(["get", "deployments", "-o", "name"])).trim() === "" ? true : undefined),
          10_000,
        )
      } finally {
        await crm.stop()
        await odgm.stop()
      }
    },
    120_000,
  )
})
