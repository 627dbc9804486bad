// What kubectl asks for over plain HTTP: Tables (also inside watch events), aggregated
// discovery, the OpenAPI document; and the emulator run alone as a program.
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { join } from "node:path"
import { freePort } from "../harness/index.ts"
import { type Cluster, deployment, events, raw, startCluster, widget, WIDGET_CRD } from "./helpers.ts"
import { startEmulator } from "./index.ts"

let c: Cluster
beforeAll(async () => {
  c = await startCluster()
  await c.emulator.hooks.registerCrd(WIDGET_CRD)
})
afterAll(() => c.emulator.stop())

const TABLE =
  "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"

describe("tables", () => {
  test("a list as a Table: columns from the CRD's printer columns, rows with partial metadata", async () => {
    await c.custom.createNamespacedCustomObject({
      group: "example.com",
      version: "v1",
      namespace: "default",
      plural: "widgets",
      body: widget("t1", { size: "medium" }),
    })
    const res = await raw(c.emulator, "GET", "/apis/example.com/v1/namespaces/default/widgets", undefined, {
      Accept: TABLE,
    })
    expect(res.body.kind).toBe("Table")
    expect(res.body.apiVersion).toBe("meta.k8s.io/v1")
    expect(res.body.columnDefinitions.map((d: any) => d.name)).toEqual(["Name", "Size"])
    expect(res.body.rows[0].cells).toEqual(["t1", "medium"])
    expect(res.body.rows[0].object).toMatchObject({
      kind: "PartialObjectMetadata",
      apiVersion: "meta.k8s.io/v1",
      metadata: { name: "t1" },
    })
    const none = await raw(
      c.emulator,
      "GET",
      "/apis/example.com/v1/namespaces/default/widgets?includeObject=None",
      undefined,
      { Accept: TABLE },
    )
    expect(none.body.rows[0].object).toBeUndefined()
    const plain = await raw(c.emulator, "GET", "/apis/example.com/v1/namespaces/default/widgets")
    expect(plain.body.kind).toBe("WidgetList")
  })

  test("built-in kinds have kubectl's columns", async () => {
    await c.apps.createNamespacedDeployment({ namespace: "default", body: deployment("tab", "nginx:1", 2) })
    const res = await raw(c.emulator, "GET", "/apis/apps/v1/namespaces/default/deployments/tab", undefined, {
      Accept: TABLE,
    })
    expect(res.body.columnDefinitions.map((d: any) => d.name)).toEqual([
      "Name",
      "Ready",
      "Up-to-date",
      "Available",
      "Age",
    ])
    expect(res.body.rows[0].cells.slice(0, 4)).toEqual(["tab", "0/2", 0, 0])
  })

  test("watch events carry one-row Tables; only the first has column definitions", async () => {
    const res = await raw(
      c.emulator,
      "GET",
      "/apis/example.com/v1/namespaces/default/widgets?watch=true&timeoutSeconds=1",
      undefined,
      { Accept: TABLE },
    )
    const [first] = events(res.text)
    expect(first.type).toBe("ADDED")
    expect(first.object.kind).toBe("Table")
    expect(first.object.columnDefinitions.length).toBe(2)
    await c.custom.createNamespacedCustomObject({
      group: "example.com",
      version: "v1",
      namespace: "default",
      plural: "widgets",
      body: widget("t2", { size: "large" }),
    })
    const again = await raw(
      c.emulator,
      "GET",
      "/apis/example.com/v1/namespaces/default/widgets?watch=true&timeoutSeconds=1",
      undefined,
      { Accept: TABLE },
    )
    const all = events(again.text)
    expect(all.length).toBe(2)
    expect(all[1].object.columnDefinitions).toBeNull()
    expect(all[1].object.rows[0].cells).toEqual(["t2", "large"])
  })
})

describe("discovery", () => {
  test("aggregated discovery (apidiscovery.k8s.io/v2) when asked, with subresources", async () => {
    const accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    const res = await raw(c.emulator, "GET", "/apis", undefined, { Accept: accept })
    expect(res.headers.get("content-type")).toBe("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
    const apps = res.body.items.find((i: any) => i.metadata.name === "apps")
    const deployments = apps.versions[0].resources.find((r: any) => r.resource === "deployments")
    expect(deployments).toMatchObject({ scope: "Namespaced", singularResource: "deployment", shortNames: ["deploy"] })
    expect(deployments.subresources.map((s: any) => s.subresource)).toEqual(["status", "scale"])
    expect(res.body.items.map((i: any) => i.metadata.name)).toContain("example.com")
    const core = await raw(c.emulator, "GET", "/api", undefined, { Accept: accept })
    expect(core.body.items[0].versions[0].resources.map((r: any) => r.resource)).toContain("namespaces")
  })

  test("/openapi/v2 answers JSON, or gnostic protobuf when asked (kubectl 1.20 needs it)", async () => {
    const json = await raw(c.emulator, "GET", "/openapi/v2")
    expect(json.body.swagger).toBe("2.0")
    const pb = await fetch(`${c.emulator.url}/openapi/v2`, {
      headers: { Accept: "application/com.github.proto-openapi.spec.v2@v1.0+protobuf" },
    })
    const bytes = new Uint8Array(await pb.arrayBuffer())
    // field 1 (swagger), length 3, "2.0"
    expect([...bytes.slice(0, 5)]).toEqual([0x0a, 3, 0x32, 0x2e, 0x30])
  })

  test("unknown paths and methods are Status errors", async () => {
    expect((await raw(c.emulator, "GET", "/apis/apps/v1/namespaces/default/nothings")).body).toMatchObject({
      kind: "Status",
      code: 404,
      reason: "NotFound",
    })
    expect((await raw(c.emulator, "POST", "/apis/apps/v1/namespaces/default/deployments/x", {})).status).toBe(405)
    // Namespaces have no deletecollection verb, as discovery says.
    expect((await raw(c.emulator, "DELETE", "/api/v1/namespaces")).body).toMatchObject({
      code: 405,
      reason: "MethodNotAllowed",
    })
    expect((await raw(c.emulator, "GET", "/api/v1/namespaces/default")).status).toBe(200)
    expect((await raw(c.emulator, "POST", "/api/v1/namespaces/default/configmaps", "{not json")).status).toBe(400)
    const big = await raw(
      c.emulator,
      "POST",
      "/api/v1/namespaces/default/configmaps",
      JSON.stringify({ metadata: { name: "big" }, data: { a: "x".repeat(4 * 1024 * 1024) } }),
    )
    expect(big.status).toBe(413)
  })
})

describe("tls", () => {
  test("with tls: true the server verifies against the kubeconfig's CA and refuses clients without it", async () => {
    const emu = await startEmulator({ tls: true, token: "t0k" })
    try {
      expect(emu.url).toStartWith("https://127.0.0.1:")
      expect(await Bun.file(emu.kubeconfigPath).text()).toContain("certificate-authority-data:")
      await expect(fetch(`${emu.url}/version`)).rejects.toThrow()
      const ok = await fetch(`${emu.url}/api/v1/namespaces`, {
        headers: { Authorization: "Bearer t0k" },
        tls: { ca: emu.caCert! },
      })
      expect(ok.status).toBe(200)
    } finally {
      await emu.stop()
    }
  })
})

describe("main.ts", () => {
  test("runs alone: prints the URL and a kubeconfig that works", async () => {
    const port = await freePort()
    const proc = Bun.spawn(
      [process.execPath, join(import.meta.dir, "main.ts"), "--port", String(port), "--workloads"],
      { stdout: "pipe", stderr: "pipe" },
    )
    try {
      const reader = proc.stdout.getReader()
      let out = ""
      while (!out.includes("kubeconfig:")) {
        const { value, done } = await reader.read()
        if (done) throw new Error(`main.ts exited early: ${await new Response(proc.stderr).text()}`)
        out += new TextDecoder().decode(value)
      }
      expect(out).toContain(`listening on http://127.0.0.1:${port}`)
      const kubeconfig = /kubeconfig: (\S+)/.exec(out)![1]!
      expect(await Bun.file(kubeconfig).text()).toContain(`server: http://127.0.0.1:${port}`)
      const ns: any = await (await fetch(`http://127.0.0.1:${port}/api/v1/namespaces`)).json()
      expect(ns.items.map((n: any) => n.metadata.name)).toContain("default")
    } finally {
      proc.kill("SIGTERM")
      expect(await proc.exited).toBe(0)
    }
  })

  test("a port in use exits 1 naming the address", async () => {
    const port = await freePort()
    const blocker = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } })
    try {
      const proc = Bun.spawn([process.execPath, join(import.meta.dir, "main.ts"), "--port", String(port)], {
        stdout: "pipe",
        stderr: "pipe",
      })
      expect(await proc.exited).toBe(1)
      expect(await new Response(proc.stderr).text()).toContain(`cannot start on 127.0.0.1:${port}`)
    } finally {
      blocker.stop(true)
    }
  })

  test("bad flags exit 2 with the reason", async () => {
    const proc = Bun.spawn([process.execPath, join(import.meta.dir, "main.ts"), "--port", "99999"], {
      stdout: "pipe",
      stderr: "pipe",
    })
    expect(await proc.exited).toBe(2)
    expect(await new Response(proc.stderr).text()).toContain("--port: 99999 is not a port number")
  })
})
