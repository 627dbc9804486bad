// kubectl 1.20 (Debian kubernetes-client) scripted against the emulator with a kubeconfig.
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { eventually } from "./helpers.ts"
import { type Emulator, startEmulator } from "./index.ts"
import { kubectl120 } from "./kubectl.ts"

const FIXTURES = join(import.meta.dir, "fixtures")
let emulator: Emulator
let bin: string
let cacheDir: string

beforeAll(async () => {
  bin = await kubectl120()
  emulator = await startEmulator({ workloads: { readyDelayMs: 200 } })
  cacheDir = mkdtempSync(join(tmpdir(), "kubectl-cache-"))
}, 300_000)
afterAll(async () => {
  await emulator?.stop()
  if (cacheDir) rmSync(cacheDir, { recursive: true, force: true })
})

const args = (
  a: string[],
) => [bin, "--kubeconfig", emulator.kubeconfigPath, "--cache-dir", cacheDir, "--request-timeout", "20s", ...a]

async function kubectl(a: string[], stdin?: string): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn(args(a), {
    stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin),
    stdout: "pipe",
    stderr: "pipe",
  })
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
  return { code, out, err }
}

async function ok(a: string[], stdin?: string): Promise<string> {
  const r = await kubectl(a, stdin)
  if (r.code !== 0) throw new Error(`kubectl ${a.join(" ")} exited ${r.code}: ${r.err}`)
  return r.out
}

const rows = (out: string) => out.trim().split("\n").map((l) => l.trim().split(/\s{2,}/))

describe("kubectl 1.20", () => {
  test("version talks to the emulator", async () => {
    const out = await ok(["version", "--short"])
    expect(out).toContain("Client Version: v1.20")
    expect(out).toContain("Server Version: v1.28.0-oprc-emulator")
  })

  test("apply -f a CRD, wait for Established, apply a custom resource, get it as a Table", async () => {
    expect(await ok(["apply", "-f", join(FIXTURES, "widget-crd.yaml")])).toContain(
      "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created",
    )
    expect(await ok(["wait", "--for", "condition=established", "--timeout", "20s", "crd/widgets.example.com"]))
      .toContain("condition met")
    expect(await ok(["apply", "-f", join(FIXTURES, "widget.yaml")])).toContain("widget.example.com/gadget created")
    const table = rows(await ok(["get", "widgets"]))
    expect(table[0]).toEqual(["NAME", "SIZE", "REPLICAS", "READY", "AGE"])
    expect(table[1]!.slice(0, 3)).toEqual(["gadget", "small", "2"])
    // The short name from the CRD works too, and -o json shows the pruned, defaulted object.
    const json = JSON.parse(await ok(["get", "wd", "gadget", "-o", "json"]))
    expect(json.spec).toEqual({ size: "small", replicas: 2, color: "blue" })
    // Re-applying the same file sends a patch (the pruned field differs from the last applied
    // configuration), which changes nothing on the server: no new resourceVersion.
    await ok(["apply", "-f", join(FIXTURES, "widget.yaml")])
    expect(JSON.parse(await ok(["get", "wd", "gadget", "-o", "json"])).metadata.resourceVersion).toBe(
      json.metadata.resourceVersion,
    )
  })

  test("an invalid custom resource is refused with the field path", async () => {
    const bad = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: bad\nspec:\n  size: enormous\n"
    const r = await kubectl(["apply", "-f", "-"], bad)
    expect(r.code).not.toBe(0)
    expect(r.err).toContain("spec.size: Unsupported value: \"enormous\"")
  })

  test("get -w shows an update", async () => {
    const watcher = Bun.spawn(args(["get", "widgets", "-w"]), { stdout: "pipe", stderr: "pipe" })
    const reader = watcher.stdout.getReader()
    let seen = ""
    const pump = (async () => {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) return
        seen += new TextDecoder().decode(value)
      }
    })()
    try {
      await eventually("initial row", () => /gadget\s+small/.test(seen))
      await ok(["patch", "widget", "gadget", "--type", "merge", "-p", "{\"spec\":{\"size\":\"large\"}}"])
      await eventually("updated row", () => /gadget\s+large/.test(seen))
      expect(seen.split("\n")[0]).toMatch(/^NAME\s+SIZE/)
      expect(seen.match(/^NAME/gm)?.length).toBe(1)
    } finally {
      watcher.kill()
      await watcher.exited
      await pump.catch(() => {})
    }
  })

  test("describe shows the object and its Events (written through events.k8s.io/v1)", async () => {
    const w = JSON.parse(await ok(["get", "widget", "gadget", "-o", "json"]))
    const event = {
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { name: "gadget.1", namespace: "default" },
      // MicroTime: six fractional digits.
      eventTime: new Date().toISOString().replace(/Z$/, "000Z"),
      reportingController: "example.com/widget-controller",
      reportingInstance: "ctl-0",
      action: "Resize",
      reason: "Resized",
      note: "size changed to large",
      type: "Normal",
      regarding: {
        apiVersion: "example.com/v1",
        kind: "Widget",
        name: "gadget",
        namespace: "default",
        uid: w.metadata.uid,
      },
    }
    const res = await fetch(`${emulator.url}/apis/events.k8s.io/v1/namespaces/default/events`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(event),
    })
    expect(res.status).toBe(201)
    const out = await ok(["describe", "widget", "gadget"])
    expect(out).toMatch(/Normal\s+Resized\s+.*size changed to large/)
    expect(out).toMatch(/Name:\s+gadget/)
    expect(out).toMatch(/Namespace:\s+default/)
    expect(out).toMatch(/Size:\s+large/)
  })

  test("apply --server-side: conflicts with the patch's manager, --force-conflicts takes over", async () => {
    const medium = (await Bun.file(join(FIXTURES, "widget.yaml")).text()).replace("size: small", "size: medium")
    const conflict = await kubectl(["apply", "--server-side", "-f", "-"], medium)
    expect(conflict.code).not.toBe(0)
    expect(conflict.err).toContain("conflict with \"kubectl-patch\"")
    expect(conflict.err).toContain(".spec.size")
    expect(await ok(["apply", "--server-side", "--force-conflicts", "-f", "-"], medium)).toContain("serverside-applied")
    expect(rows(await ok(["get", "widget", "gadget", "--no-headers"]))[0]!.slice(0, 2)).toEqual(["gadget", "medium"])
  })

  test("a Deployment: create, scale, rollout status against the simulated controller, describe", async () => {
    await ok(["create", "deployment", "web", "--image", "nginx:1.25"])
    await ok(["scale", "deployment", "web", "--replicas", "3"])
    expect(await ok(["rollout", "status", "deployment/web", "--timeout", "20s"])).toContain(
      "deployment \"web\" successfully rolled out",
    )
    const table = rows(await ok(["get", "deploy"]))
    expect(table[0]).toEqual(["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"])
    expect(table[1]!.slice(0, 4)).toEqual(["web", "3/3", "3", "3"])
    const d = await ok(["describe", "deployment", "web"])
    expect(d).toMatch(/Replicas:\s+3 desired/)
    expect(d).toMatch(/Image:\s+nginx:1.25/)
  })

  test("over TLS with the kubeconfig's CA and a bearer token", async () => {
    const secure = await startEmulator({ tls: true, token: "kubectl-token" })
    try {
      const p = Bun.spawn([
        bin,
        "--kubeconfig",
        secure.kubeconfigPath,
        "--cache-dir",
        cacheDir,
        "get",
        "namespaces",
        "-o",
        "name",
      ], { stdout: "pipe", stderr: "pipe" })
      const [out, err, code] = await Promise.all([
        new Response(p.stdout).text(),
        new Response(p.stderr).text(),
        p.exited,
      ])
      expect(err).toBe("")
      expect(code).toBe(0)
      expect(out).toContain("namespace/default")
      // Without the CA, verification fails.
      const bad = Bun.spawn([
        bin,
        "--server",
        secure.url,
        "--token",
        "kubectl-token",
        "--cache-dir",
        cacheDir,
        "get",
        "namespaces",
      ], { stdout: "pipe", stderr: "pipe" })
      const [badErr, badCode] = await Promise.all([new Response(bad.stderr).text(), bad.exited])
      expect(badCode).not.toBe(0)
      expect(badErr).toContain("certificate")
    } finally {
      await secure.stop()
    }
  })

  test("delete removes the custom resource, then the CRD", async () => {
    expect(await ok(["delete", "-f", join(FIXTURES, "widget.yaml")])).toContain("widget.example.com \"gadget\" deleted")
    const none = await kubectl(["get", "widgets"])
    expect(none.err).toContain("No resources found")
    expect(await ok(["delete", "-f", join(FIXTURES, "widget-crd.yaml")])).toContain("deleted")
    // kubectl's discovery cache may still know the type; the server no longer serves it.
    await eventually("resource type gone", async () => {
      const r = await kubectl(["get", "widgets"])
      return r.code !== 0 && (r.err.includes("doesn't have a resource type") || r.err.includes("NotFound"))
    })
    expect((await fetch(`${emulator.url}/apis/example.com/v1`)).status).toBe(404)
  })
})
