// Patches through client-node and raw HTTP: JSON patch (with test), merge patch, strategic
// merge by keys, server-side apply with managedFields, conflicts and force.
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { type Cluster, deployment, failure, k8s, raw, startCluster, widget, WIDGET_CRD } from "./helpers.ts"

let c: Cluster
beforeAll(async () => {
  c = await startCluster()
  await c.emulator.hooks.registerCrd(WIDGET_CRD)
})
afterAll(() => c.emulator.stop())

const as = (type: string) => k8s.setHeaderOptions("Content-Type", type)
const ssa = (manager: string, force = false) => ({ fieldManager: manager, ...(force ? { force: true } : {}) })

describe("json and merge patch", () => {
  test("json patch applies ops in order; a failing test op rejects the whole patch", async () => {
    await c.core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "jp" }, data: { a: "1", b: "2" } },
    })
    const patched = await c.core.patchNamespacedConfigMap(
      {
        name: "jp",
        namespace: "default",
        body: [{ op: "test", path: "/data/a", value: "1" }, { op: "replace", path: "/data/a", value: "10" }, {
          op: "remove",
          path: "/data/b",
        }, { op: "add", path: "/data/c", value: "3" }],
      },
      as(k8s.PatchStrategy.JsonPatch),
    )
    expect(patched.data).toEqual({ a: "10", c: "3" })
    const failed = await failure(
      c.core.patchNamespacedConfigMap({
        name: "jp",
        namespace: "default",
        body: [{ op: "test", path: "/data/a", value: "1" }, { op: "add", path: "/data/z", value: "x" }],
      }, as(k8s.PatchStrategy.JsonPatch)),
    )
    expect(failed.code).toBe(422)
    expect(failed.message).toContain("/data/a")
    expect((await c.core.readNamespacedConfigMap({ name: "jp", namespace: "default" })).data).toEqual({
      a: "10",
      c: "3",
    })
  })

  test("merge patch: null deletes, maps merge, lists replace; a stale RV in the patch is 409", async () => {
    const o = await c.core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "mp", labels: { x: "1", y: "2" } }, data: { a: "1" } },
    })
    const p = await c.core.patchNamespacedConfigMap({
      name: "mp",
      namespace: "default",
      body: { metadata: { labels: { x: null, z: "3" } }, data: { b: "2" } },
    }, as(k8s.PatchStrategy.MergePatch))
    expect(p.metadata?.labels).toEqual({ y: "2", z: "3" })
    expect(p.data).toEqual({ a: "1", b: "2" })
    const stale = await failure(
      c.core.patchNamespacedConfigMap({
        name: "mp",
        namespace: "default",
        body: { metadata: { resourceVersion: o.metadata!.resourceVersion }, data: { c: "3" } },
      }, as(k8s.PatchStrategy.MergePatch)),
    )
    expect(stale.code).toBe(409)
  })

  test("unknown patch content types are 415", async () => {
    const res = await raw(c.emulator, "PATCH", "/api/v1/namespaces/default/configmaps/mp", "{}", {
      "Content-Type": "application/xml",
    })
    expect(res.status).toBe(415)
    expect(res.body.reason).toBe("UnsupportedMediaType")
  })
})

describe("strategic merge patch", () => {
  test("containers merge by name, $patch: delete removes one, env merges by name", async () => {
    const d = deployment("smp")
    d.spec.template.spec.containers.push({ name: "sidecar", image: "busybox:1" })
    await c.apps.createNamespacedDeployment({ namespace: "default", body: d })
    const patched = await c.apps.patchNamespacedDeployment(
      {
        name: "smp",
        namespace: "default",
        body: {
          spec: {
            template: {
              spec: {
                containers: [{ name: "app", image: "nginx:1.26", env: [{ name: "A", value: "1" }] }, {
                  name: "sidecar",
                  $patch: "delete",
                }],
              },
            },
          },
        },
      },
      as(k8s.PatchStrategy.StrategicMergePatch),
    )
    const containers = patched.spec!.template.spec!.containers
    expect(containers.map((x) => `${x.name}:${x.image}`)).toEqual(["app:nginx:1.26"])
    expect(containers[0]!.env).toEqual([{ name: "A", value: "1" }])
    expect(patched.metadata?.generation).toBe(2)
  })

  test("custom resources refuse strategic merge with 415", async () => {
    await c.custom.createNamespacedCustomObject({
      group: "example.com",
      version: "v1",
      namespace: "default",
      plural: "widgets",
      body: widget("w-smp"),
    })
    const res = await raw(c.emulator, "PATCH", "/apis/example.com/v1/namespaces/default/widgets/w-smp", {
      spec: { size: "large" },
    }, { "Content-Type": "application/strategic-merge-patch+json" })
    expect(res.status).toBe(415)
    expect(res.body).toMatchObject({ kind: "Status", reason: "UnsupportedMediaType", code: 415 })
  })
})

describe("server-side apply", () => {
  const applyWidget = (manager: string, spec: Record<string, unknown>, force = false, name = "ssa") =>
    c.custom.patchNamespacedCustomObject(
      {
        group: "example.com",
        version: "v1",
        namespace: "default",
        plural: "widgets",
        name,
        body: widget(name, spec),
        ...ssa(manager, force),
      },
      as(k8s.PatchStrategy.ServerSideApply),
    ) as Promise<any>

  test("apply creates (upsert), records managedFields at leaf paths with list-map keys", async () => {
    const o = await applyWidget("alice", { size: "small", ports: [{ name: "http", port: 80 }] })
    expect(o.spec).toEqual({ size: "small", ports: [{ name: "http", port: 80 }], replicas: 1, color: "blue" })
    const alice = o.metadata.managedFields.find((m: any) => m.manager === "alice")
    expect(alice.operation).toBe("Apply")
    expect(alice.fieldsV1["f:spec"]["f:ports"]["k:{\"name\":\"http\"}"]).toEqual({
      ".": {},
      "f:name": {},
      "f:port": {},
    })
    expect(alice.fieldsV1["f:spec"]["f:size"]).toEqual({})
    // Defaults filled in by the server are not the applier's.
    expect(alice.fieldsV1["f:spec"]["f:color"]).toBeUndefined()
  })

  test("a partial apply from another manager is validated merged, not alone", async () => {
    await applyWidget("first", { size: "small" }, false, "part")
    // No spec.size (required) in this config: fine, the merged object has it.
    const o = await applyWidget("second", { color: "red" }, false, "part")
    expect(o.spec.color).toBe("red")
    expect(o.spec.size).toBe("small")
  })

  test("a second manager changing an owned field gets 409 with causes; same value co-owns; force takes over", async () => {
    const conflict = await failure(applyWidget("bob", { size: "large" }))
    expect(conflict.code).toBe(409)
    expect(conflict.reason).toBe("Conflict")
    expect(conflict.message).toContain("conflict with \"alice\"")
    expect(conflict.details.causes).toEqual([{
      type: "FieldManagerConflict",
      reason: "FieldManagerConflict",
      message: "conflict with \"alice\" using example.com/v1",
      field: ".spec.size",
    }])
    const shared = await applyWidget("bob", { size: "small", replicas: 1 })
    expect(shared.metadata.managedFields.map((m: any) => m.manager).sort()).toEqual(["alice", "bob"])
    const forced = await applyWidget("bob", { size: "large" }, true)
    expect(forced.spec.size).toBe("large")
    const alice = forced.metadata.managedFields.find((m: any) => m.manager === "alice")
    expect(alice.fieldsV1["f:spec"]["f:size"]).toBeUndefined()
  })

  test("fields a manager stops applying are removed unless another manager owns them", async () => {
    await applyWidget("carol", { size: "small", ports: [{ name: "a", port: 1 }, { name: "b", port: 2 }] }, true, "drop")
    const after = await applyWidget("carol", { size: "small", ports: [{ name: "a", port: 1 }] }, false, "drop")
    expect(after.spec.ports).toEqual([{ name: "a", port: 1 }])
  })

  test("an update by another client makes it an owner: the next apply of that field conflicts", async () => {
    await applyWidget("dave", { size: "small", replicas: 2 }, false, "upd")
    await c.custom.patchNamespacedCustomObject({
      group: "example.com",
      version: "v1",
      namespace: "default",
      plural: "widgets",
      name: "upd",
      body: { spec: { replicas: 5 } },
      fieldManager: "scaler",
    }, as(k8s.PatchStrategy.MergePatch))
    const conflict = await failure(applyWidget("dave", { size: "small", replicas: 3 }, false, "upd"))
    expect(conflict.code).toBe(409)
    expect(conflict.details.causes[0]).toMatchObject({
      field: ".spec.replicas",
      message: "conflict with \"scaler\" using example.com/v1",
    })
  })

  test("an apply conflicts with the same manager's earlier non-apply write (ownership is per manager and operation)", async () => {
    await c.custom.createNamespacedCustomObject({
      group: "example.com",
      version: "v1",
      namespace: "default",
      plural: "widgets",
      body: widget("own", { size: "small" }),
      fieldManager: "me",
    })
    const self = await failure(applyWidget("me", { size: "large" }, false, "own"))
    expect(self.code).toBe(409)
    expect(self.message).toContain("conflict with \"me\"")
    const forced = await applyWidget("me", { size: "large" }, true, "own")
    expect(forced.metadata.managedFields.find((m: any) => m.manager === "me" && m.operation === "Apply")).toBeDefined()
  })

  test("fieldManager is required for apply (400/422 with the field); apply of unchanged config keeps the RV", async () => {
    const res = await raw(
      c.emulator,
      "PATCH",
      "/apis/example.com/v1/namespaces/default/widgets/ssa",
      widget("ssa", { size: "large" }),
      { "Content-Type": "application/apply-patch+yaml" },
    )
    expect(res.status).toBe(422)
    expect(res.body.details.causes[0].field).toBe("fieldManager")
    const a = await applyWidget("bob", { size: "large" })
    const b = await applyWidget("bob", { size: "large" })
    expect(b.metadata.resourceVersion).toBe(a.metadata.resourceVersion)
  })

  test("apply accepts YAML bodies and merges Deployment containers by name", async () => {
    const yaml = [
      "apiVersion: apps/v1",
      "kind: Deployment",
      "metadata:",
      "  name: yd",
      "spec:",
      "  selector:",
      "    matchLabels: {app: yd}",
      "  template:",
      "    metadata:",
      "      labels: {app: yd}",
      "    spec:",
      "      containers:",
      "      - name: app",
      "        image: nginx:1",
    ].join("\n")
    const res = await raw(
      c.emulator,
      "PATCH",
      "/apis/apps/v1/namespaces/default/deployments/yd?fieldManager=yaml-user",
      yaml,
      { "Content-Type": "application/apply-patch+yaml" },
    )
    expect(res.status).toBe(200)
    expect(res.body.spec.replicas).toBe(1)
    const side = await raw(
      c.emulator,
      "PATCH",
      "/apis/apps/v1/namespaces/default/deployments/yd?fieldManager=injector",
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "yd" },
        spec: { template: { spec: { containers: [{ name: "proxy", image: "envoy:1" }] } } },
      },
      { "Content-Type": "application/apply-patch+yaml" },
    )
    expect(side.status).toBe(200)
    expect(side.body.spec.template.spec.containers.map((x: any) => x.name)).toEqual(["app", "proxy"])
  })

  test("apply to /status changes only status, with its own managedFields entry", async () => {
    await applyWidget("ctl", { size: "small" }, false, "stat")
    const body = {
      apiVersion: "example.com/v1",
      kind: "Widget",
      metadata: { name: "stat" },
      status: { phase: "Ready", replicas: 1 },
      spec: { size: "large" },
    }
    const res = await raw(
      c.emulator,
      "PATCH",
      "/apis/example.com/v1/namespaces/default/widgets/stat/status?fieldManager=ctl-status",
      body,
      { "Content-Type": "application/apply-patch+yaml" },
    )
    expect(res.status).toBe(200)
    expect(res.body.status).toEqual({ phase: "Ready", replicas: 1 })
    expect(res.body.spec.size).toBe("small")
    const entry = res.body.metadata.managedFields.find((m: any) => m.manager === "ctl-status")
    expect(entry).toMatchObject({ operation: "Apply", subresource: "status" })
    expect(Object.keys(entry.fieldsV1)).toEqual(["f:status"])
    // Another status manager changing the same field conflicts.
    const other = await raw(
      c.emulator,
      "PATCH",
      "/apis/example.com/v1/namespaces/default/widgets/stat/status?fieldManager=intruder",
      { ...body, status: { phase: "Failed" } },
      { "Content-Type": "application/apply-patch+yaml" },
    )
    expect(other.status).toBe(409)
    expect(other.body.details.causes[0].field).toBe(".status.phase")
  })

  test("dryRun=All apply answers the merged object and stores nothing", async () => {
    const before = await c.custom.getNamespacedCustomObject({
      group: "example.com",
      version: "v1",
      namespace: "default",
      plural: "widgets",
      name: "ssa",
    }) as any
    const res = await raw(
      c.emulator,
      "PATCH",
      "/apis/example.com/v1/namespaces/default/widgets/ssa?fieldManager=bob&dryRun=All",
      widget("ssa", { size: "medium" }),
      { "Content-Type": "application/apply-patch+yaml" },
    )
    expect(res.body.spec.size).toBe("medium")
    const after = await c.custom.getNamespacedCustomObject({
      group: "example.com",
      version: "v1",
      namespace: "default",
      plural: "widgets",
      name: "ssa",
    }) as any
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion)
    expect(after.spec.size).toBe(before.spec.size)
  })
})
