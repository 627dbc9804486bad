// Deletion and life cycles through client-node: finalizers, garbage collection by owner uid,
// namespaces, CRDs (asynchronous establishment, validation, pruning, defaults, cleanup) and the
// status and scale subresources.
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import {
  type Cluster,
  deployment,
  events,
  eventually,
  failure,
  k8s,
  raw,
  startCluster,
  widget,
  WIDGET_CRD,
} from "./helpers.ts"

let c: Cluster
beforeAll(async () => {
  c = await startCluster({ crdEstablishDelayMs: 150 })
})
afterAll(() => c.emulator.stop())

const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch)
const gone = (p: Promise<unknown>) => p.then(() => false, (e) => e instanceof k8s.ApiException && e.code === 404)
const owner = (o: { metadata?: { name?: string; uid?: string } }, kind: string, apiVersion: string, block = false) => ({
  apiVersion,
  kind,
  name: o.metadata!.name!,
  uid: o.metadata!.uid!,
  ...(block ? { blockOwnerDeletion: true } : {}),
})

describe("finalizers", () => {
  test("DELETE with a finalizer sets deletionTimestamp (200 with the object) and keeps it until the finalizer goes", async () => {
    await c.core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "fin", finalizers: ["example.com/hold"] } },
    })
    const res = await raw(c.emulator, "DELETE", "/api/v1/namespaces/default/configmaps/fin")
    expect(res.status).toBe(200)
    expect(res.body.metadata.deletionTimestamp).toBeDefined()
    // Deleting again changes nothing; the deprecated orphanDependents=false makes it 202.
    const again = await raw(c.emulator, "DELETE", "/api/v1/namespaces/default/configmaps/fin", {
      orphanDependents: false,
    })
    expect(again.status).toBe(202)
    expect(again.body.metadata.deletionTimestamp).toBe(res.body.metadata.deletionTimestamp)
    const held = await c.core.readNamespacedConfigMap({ name: "fin", namespace: "default" })
    expect(held.metadata?.deletionTimestamp).toBeDefined()
    const noNew = await failure(
      c.core.patchNamespacedConfigMap({
        name: "fin",
        namespace: "default",
        body: { metadata: { finalizers: ["example.com/hold", "example.com/more"] } },
      }, merge),
    )
    expect(noNew.code).toBe(422)
    expect(noNew.message).toContain("no new finalizers can be added if the object is being deleted")
    // deletionTimestamp cannot be changed by an update.
    const cleared = await c.core.replaceNamespacedConfigMap({
      name: "fin",
      namespace: "default",
      body: { ...held, metadata: { ...held.metadata, deletionTimestamp: new Date(0) } },
    })
    expect(cleared.metadata?.deletionTimestamp).toEqual(held.metadata?.deletionTimestamp)
    await c.core.patchNamespacedConfigMap({
      name: "fin",
      namespace: "default",
      body: { metadata: { finalizers: null } },
    }, merge)
    expect(await gone(c.core.readNamespacedConfigMap({ name: "fin", namespace: "default" }))).toBe(true)
  })

  test("an immediate delete answers a Success Status (Pods and ServiceAccounts answer the object)", async () => {
    const o = await c.core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "quick" } } })
    const res = await raw(c.emulator, "DELETE", "/api/v1/namespaces/default/configmaps/quick")
    expect(res.status).toBe(200)
    expect(res.body).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Success",
      details: { name: "quick", group: "", kind: "configmaps", uid: o.metadata!.uid },
    })
    await c.core.createNamespacedServiceAccount({ namespace: "default", body: { metadata: { name: "robot" } } })
    const sa = await raw(c.emulator, "DELETE", "/api/v1/namespaces/default/serviceaccounts/robot")
    expect(sa.body.kind).toBe("ServiceAccount")
  })
})

describe("garbage collection", () => {
  test("background: dependents of a deleted owner go asynchronously, matched by uid", async () => {
    const o = await c.core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "owner-bg" } } })
    await c.core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "dep-bg", ownerReferences: [owner(o, "ConfigMap", "v1")] } },
    })
    // Same owner name, different uid: not a dependent of this owner, so a dangling reference.
    await c.core.createNamespacedConfigMap({
      namespace: "default",
      body: {
        metadata: {
          name: "other-bg",
          ownerReferences: [{
            apiVersion: "v1",
            kind: "ConfigMap",
            name: "owner-bg",
            uid: "11111111-1111-1111-1111-111111111111",
          }],
        },
      },
    })
    await eventually(
      "dangling dependent collected",
      () => gone(c.core.readNamespacedConfigMap({ name: "other-bg", namespace: "default" })),
    )
    await c.core.deleteNamespacedConfigMap({ name: "owner-bg", namespace: "default" })
    await eventually(
      "dependent collected",
      () => gone(c.core.readNamespacedConfigMap({ name: "dep-bg", namespace: "default" })),
    )
  })

  test("an owner in another namespace does not hold a dependent (the real GC looks in the dependent's namespace)", async () => {
    await c.core.createNamespace({ body: { metadata: { name: "elsewhere" } } })
    const o = await c.core.createNamespacedConfigMap({
      namespace: "elsewhere",
      body: { metadata: { name: "far-owner" } },
    })
    const ns = await c.core.readNamespace({ name: "elsewhere" })
    await c.core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "cross-dep", ownerReferences: [owner(o, "ConfigMap", "v1")] } },
    })
    // A cluster-scoped owner (a Namespace) is found from any namespace.
    await c.core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "ns-dep", ownerReferences: [owner(ns, "Namespace", "v1")] } },
    })
    await eventually(
      "cross-namespace dependent collected",
      () => gone(c.core.readNamespacedConfigMap({ name: "cross-dep", namespace: "default" })),
    )
    expect((await c.core.readNamespacedConfigMap({ name: "ns-dep", namespace: "default" })).metadata?.name).toBe(
      "ns-dep",
    )
  })

  test("foreground: the owner waits (foregroundDeletion) until blocking dependents are gone", async () => {
    const d = await c.apps.createNamespacedDeployment({ namespace: "default", body: deployment("fg") })
    await c.core.createNamespacedConfigMap({
      namespace: "default",
      body: {
        metadata: {
          name: "fg-child",
          finalizers: ["example.com/slow"],
          ownerReferences: [owner(d, "Deployment", "apps/v1", true)],
        },
      },
    })
    await c.apps.deleteNamespacedDeployment({ name: "fg", namespace: "default", propagationPolicy: "Foreground" })
    const waiting = await c.apps.readNamespacedDeployment({ name: "fg", namespace: "default" })
    expect(waiting.metadata?.finalizers).toContain("foregroundDeletion")
    expect(waiting.metadata?.deletionTimestamp).toBeDefined()
    const child = await eventually("child marked for deletion", async () => {
      const x = await c.core.readNamespacedConfigMap({ name: "fg-child", namespace: "default" })
      return x.metadata?.deletionTimestamp ? x : undefined
    })
    await Bun.sleep(100)
    expect((await c.apps.readNamespacedDeployment({ name: "fg", namespace: "default" })).metadata?.name).toBe("fg")
    await c.core.patchNamespacedConfigMap({
      name: child.metadata!.name!,
      namespace: "default",
      body: { metadata: { finalizers: null } },
    }, merge)
    await eventually(
      "owner gone after its dependent",
      () => gone(c.apps.readNamespacedDeployment({ name: "fg", namespace: "default" })),
    )
  })

  test("orphan: dependents stay, without the owner reference", async () => {
    const o = await c.core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "owner-or" } } })
    await c.core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "dep-or", ownerReferences: [owner(o, "ConfigMap", "v1")] } },
    })
    await c.core.deleteNamespacedConfigMap({ name: "owner-or", namespace: "default", propagationPolicy: "Orphan" })
    await eventually(
      "owner gone",
      () => gone(c.core.readNamespacedConfigMap({ name: "owner-or", namespace: "default" })),
    )
    const dep = await c.core.readNamespacedConfigMap({ name: "dep-or", namespace: "default" })
    expect(dep.metadata?.ownerReferences).toBeUndefined()
  })

  test("deletecollection deletes what the selector matches", async () => {
    for (const n of ["dc-1", "dc-2", "dc-keep"]) {
      await c.core.createNamespacedConfigMap({
        namespace: "default",
        body: { metadata: { name: n, labels: { set: n === "dc-keep" ? "keep" : "drop" } } },
      })
    }
    await c.core.deleteCollectionNamespacedConfigMap({ namespace: "default", labelSelector: "set=drop" })
    const left = await c.core.listNamespacedConfigMap({ namespace: "default", labelSelector: "set" })
    expect(left.items.map((i) => i.metadata?.name)).toEqual(["dc-keep"])
  })

  test("namespace deletion: Terminating, no new content (403), contents removed, then the namespace", async () => {
    await c.core.createNamespace({ body: { metadata: { name: "doomed" } } })
    await c.core.createNamespacedConfigMap({
      namespace: "doomed",
      body: { metadata: { name: "held", finalizers: ["example.com/hold"] } },
    })
    await c.apps.createNamespacedDeployment({ namespace: "doomed", body: deployment("web") })
    await c.core.deleteNamespace({ name: "doomed" })
    const ns = await c.core.readNamespace({ name: "doomed" })
    expect(ns.status?.phase).toBe("Terminating")
    const refused = await failure(
      c.core.createNamespacedConfigMap({ namespace: "doomed", body: { metadata: { name: "late" } } }),
    )
    expect(refused.code).toBe(403)
    expect(refused.message).toContain("because it is being terminated")
    await eventually(
      "deployment removed",
      () => gone(c.apps.readNamespacedDeployment({ name: "web", namespace: "doomed" })),
    )
    await Bun.sleep(100)
    expect((await c.core.readNamespace({ name: "doomed" })).status?.phase).toBe("Terminating")
    await c.core.patchNamespacedConfigMap({
      name: "held",
      namespace: "doomed",
      body: { metadata: { finalizers: null } },
    }, merge)
    await eventually("namespace gone", () => gone(c.core.readNamespace({ name: "doomed" })))
  })
})

describe("custom resource definitions", () => {
  const widgets = (namespace = "default") => ({ group: "example.com", version: "v1", namespace, plural: "widgets" })

  test("a new CRD is served only once Established (NamesAccepted first); discovery follows", async () => {
    // Sent raw: client-node's typed CRD model expects `_enum`/`xKubernetesListType` property
    // names and silently drops `enum` and `x-kubernetes-*` keys from plain JSON.
    expect(
      (await raw(c.emulator, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", WIDGET_CRD)).status,
    ).toBe(201)
    const early = await failure(c.custom.listNamespacedCustomObject(widgets()))
    expect(early.code).toBe(404)
    expect((await raw(c.emulator, "GET", "/apis/example.com/v1")).status).toBe(404)
    const conditions = await eventually("Established", async () => {
      const crd = await c.ext.readCustomResourceDefinition({ name: "widgets.example.com" })
      const cs = crd.status?.conditions ?? []
      return cs.some((x) => x.type === "Established" && x.status === "True") ? cs : undefined
    })
    expect(conditions.find((x) => x.type === "NamesAccepted")?.status).toBe("True")
    const list = await raw(c.emulator, "GET", "/apis/example.com/v1")
    expect(list.body.resources.map((r: any) => r.name)).toEqual(["widgets", "widgets/status", "widgets/scale"])
    expect((await c.custom.listNamespacedCustomObject(widgets()) as any).items).toEqual([])
  })

  test("validation: 422 with field paths; unknown fields pruned; defaults applied", async () => {
    const bad = await failure(
      c.custom.createNamespacedCustomObject({
        ...widgets(),
        body: widget("bad", { size: "huge", replicas: -1, ports: [{ port: "x" }] }),
      }),
    )
    expect(bad.code).toBe(422)
    expect(bad.reason).toBe("Invalid")
    const fields = bad.details.causes.map((x: any) => x.field).sort()
    expect(fields).toEqual(["spec.ports[0].name", "spec.ports[0].port", "spec.replicas", "spec.size"])
    expect(bad.message).toContain("spec.size: Unsupported value: \"huge\"")
    const missing = await failure(c.custom.createNamespacedCustomObject({ ...widgets(), body: widget("bad2", {}) }))
    expect(missing.details.causes).toEqual([{
      reason: "FieldValueRequired",
      message: "Required value",
      field: "spec.size",
    }])
    const ok: any = await c.custom.createNamespacedCustomObject({
      ...widgets(),
      body: widget("good", { size: "small", bogus: 1, extra: { anything: { goes: true } } }),
    })
    expect(ok.spec).toEqual({ size: "small", replicas: 1, color: "blue", extra: { anything: { goes: true } } })
    // fieldValidation: Warn (the default) says what was dropped; Strict refuses it.
    const warned = await raw(
      c.emulator,
      "POST",
      "/apis/example.com/v1/namespaces/default/widgets",
      widget("warned", { size: "small", bogus: 1 }),
    )
    expect(warned.status).toBe(201)
    expect(warned.headers.get("warning")).toContain("unknown field \\\"spec.bogus\\\"")
    const strict = await raw(
      c.emulator,
      "POST",
      "/apis/example.com/v1/namespaces/default/widgets?fieldValidation=Strict",
      widget("strict", { size: "small", bogus: 1 }),
    )
    expect(strict.status).toBe(400)
    expect(strict.body.message).toBe("strict decoding error: unknown field \"spec.bogus\"")
  })

  test("status subresource: the main resource ignores .status, /status changes only status; generation counts spec changes", async () => {
    const created: any = await c.custom.createNamespacedCustomObject({
      ...widgets(),
      body: { ...widget("st"), status: { phase: "Fake" } },
    })
    expect(created.status).toBeUndefined()
    expect(created.metadata.generation).toBe(1)
    const s: any = await c.custom.patchNamespacedCustomObjectStatus({
      ...widgets(),
      name: "st",
      body: { status: { phase: "Ready" }, spec: { size: "large" } },
    }, merge)
    expect(s.status.phase).toBe("Ready")
    expect(s.spec.size).toBe("small")
    expect(s.metadata.generation).toBe(1)
    const m: any = await c.custom.patchNamespacedCustomObject({
      ...widgets(),
      name: "st",
      body: { spec: { size: "medium" }, status: { phase: "Ignored" } },
    }, merge)
    expect(m.status.phase).toBe("Ready")
    expect(m.metadata.generation).toBe(2)
    const l: any = await c.custom.patchNamespacedCustomObject({
      ...widgets(),
      name: "st",
      body: { metadata: { labels: { a: "b" } } },
    }, merge)
    expect(l.metadata.generation).toBe(2)
  })

  test("scale subresource from the CRD's paths, and natively for Deployments", async () => {
    await c.custom.createNamespacedCustomObject({ ...widgets(), body: widget("sc", { size: "small", replicas: 2 }) })
    const scale: any = await c.custom.getNamespacedCustomObjectScale({ ...widgets(), name: "sc" })
    expect(scale).toMatchObject({ kind: "Scale", apiVersion: "autoscaling/v1", spec: { replicas: 2 } })
    await c.custom.patchNamespacedCustomObjectScale(
      { ...widgets(), name: "sc", body: { spec: { replicas: 4 } } },
      merge,
    )
    expect(((await c.custom.getNamespacedCustomObject({ ...widgets(), name: "sc" })) as any).spec.replicas).toBe(4)
    await c.apps.createNamespacedDeployment({ namespace: "default", body: deployment("scaled", "nginx:1", 1) })
    const ds = await c.apps.replaceNamespacedDeploymentScale({
      name: "scaled",
      namespace: "default",
      body: { metadata: { name: "scaled" }, spec: { replicas: 3 } },
    })
    expect(ds.spec?.replicas).toBe(3)
    expect(ds.status?.selector).toBe("app=scaled")
    const d = await c.apps.readNamespacedDeployment({ name: "scaled", namespace: "default" })
    expect(d.spec?.replicas).toBe(3)
    expect(d.metadata?.generation).toBe(2)
  })

  test("unserved versions are not served; a CRD update takes effect", async () => {
    const crd = await c.ext.readCustomResourceDefinition({ name: "widgets.example.com" })
    const v1 = crd.spec.versions[0]!
    crd.spec.versions = [{ ...v1, storage: false }, { ...v1, name: "v2", storage: true }, {
      ...v1,
      name: "v1alpha1",
      storage: false,
      served: false,
    }]
    await c.ext.replaceCustomResourceDefinition({ name: "widgets.example.com", body: crd })
    const both: any = await eventually(
      "v2 served",
      () =>
        c.custom.getNamespacedCustomObject({
          group: "example.com",
          version: "v2",
          namespace: "default",
          plural: "widgets",
          name: "good",
        }),
    )
    expect(both.apiVersion).toBe("example.com/v2")
    expect((await raw(c.emulator, "GET", "/apis/example.com/v1alpha1/namespaces/default/widgets")).status).toBe(404)
    const group = await raw(c.emulator, "GET", "/apis/example.com")
    expect(group.body.preferredVersion.version).toBe("v2")
    const stored = await c.ext.readCustomResourceDefinition({ name: "widgets.example.com" })
    expect(stored.status?.storedVersions).toEqual(["v1", "v2"])
  })

  test("a CRD whose name does not match its names is 422", async () => {
    const bad = await failure(
      c.ext.createCustomResourceDefinition({ body: { ...WIDGET_CRD, metadata: { name: "wrong.example.com" } } as any }),
    )
    expect(bad.code).toBe(422)
    expect(bad.details.causes[0].field).toBe("metadata.name")
  })

  test("a non-structural schema is 422 with the paths the real server names", async () => {
    const crd = structuredClone(WIDGET_CRD) as any
    crd.metadata.name = "gizmos.example.com"
    crd.spec.names = { kind: "Gizmo", plural: "gizmos" }
    crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.untyped = { description: "no type" }
    crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.list = { type: "array" }
    const res = await raw(c.emulator, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    expect(res.status).toBe(422)
    expect(res.body.details.causes.map((x: any) => x.field).sort()).toEqual([
      "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[list].items",
      "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[untyped].type",
    ])
  })

  test("deleting a CRD deletes its custom resources (waiting for their finalizers), then stops serving", async () => {
    await c.custom.createNamespacedCustomObject({
      ...widgets(),
      body: widget("held", { size: "small" }, { finalizers: ["example.com/hold"] }),
    })
    // An open watch on the custom resources sees them go and then ends with the resource.
    const watched = fetch(`${c.emulator.url}/apis/example.com/v1/widgets?watch=true`).then((r) => r.text())
    await eventually("watch open", () => c.emulator.hooks.openWatches() > 0)
    await c.ext.deleteCustomResourceDefinition({ name: "widgets.example.com" })
    const terminating = await eventually("CR marked", async () => {
      const o: any = await c.custom.getNamespacedCustomObject({ ...widgets(), name: "held" })
      return o.metadata.deletionTimestamp ? o : undefined
    })
    expect(terminating.metadata.name).toBe("held")
    expect(await gone(c.custom.getNamespacedCustomObject({ ...widgets(), name: "good" }))).toBe(true)
    expect((await c.ext.readCustomResourceDefinition({ name: "widgets.example.com" })).metadata?.deletionTimestamp)
      .toBeDefined()
    await c.custom.patchNamespacedCustomObject(
      { ...widgets(), name: "held", body: { metadata: { finalizers: null } } },
      merge,
    )
    await eventually("CRD gone", () => gone(c.ext.readCustomResourceDefinition({ name: "widgets.example.com" })))
    expect((await raw(c.emulator, "GET", "/apis/example.com/v1/namespaces/default/widgets")).status).toBe(404)
    expect((await raw(c.emulator, "GET", "/apis")).body.groups.map((g: any) => g.name)).not.toContain("example.com")
    const seen = events(await watched)
    const names = (type: string) => seen.filter((e) => e.type === type).map((e) => e.object.metadata.name).sort()
    expect(names("DELETED")).toEqual(names("ADDED"))
    expect(names("DELETED")).toContain("held")
  })
})
