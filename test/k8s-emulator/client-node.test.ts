// CRUD, optimistic concurrency, lists, selectors, pagination and watches through client-node.
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { type Cluster, events, eventually, failure, k8s, raw, startCluster } from "./helpers.ts"

let c: Cluster
beforeAll(async () => {
  c = await startCluster({ historyLimit: 50 })
})
afterAll(() => c.emulator.stop())

const cm = (name: string, data: Record<string, string> = { a: "1" }, labels: Record<string, string> = {}) => ({
  metadata: { name, labels },
  data,
})

describe("objects", () => {
  test("create sets server metadata; get returns it; duplicates are 409 AlreadyExists", async () => {
    const created = await c.core.createNamespacedConfigMap({ namespace: "default", body: cm("one") })
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/)
    expect(Number(created.metadata?.resourceVersion)).toBeGreaterThan(0)
    expect(created.metadata?.creationTimestamp).toBeDefined()
    const read = await c.core.readNamespacedConfigMap({ name: "one", namespace: "default" })
    expect(read.data).toEqual({ a: "1" })
    expect(read.metadata?.resourceVersion).toBe(created.metadata?.resourceVersion)
    const dup = await failure(c.core.createNamespacedConfigMap({ namespace: "default", body: cm("one") }))
    expect(dup).toMatchObject({ code: 409, reason: "AlreadyExists", message: "configmaps \"one\" already exists" })
  })

  test("missing objects and namespaces are 404 NotFound with details", async () => {
    const missing = await failure(c.core.readNamespacedConfigMap({ name: "nope", namespace: "default" }))
    expect(missing).toMatchObject({ code: 404, reason: "NotFound", details: { name: "nope", kind: "configmaps" } })
    const noNs = await failure(c.core.createNamespacedConfigMap({ namespace: "ghost", body: cm("x") }))
    expect(noNs).toMatchObject({ code: 404, reason: "NotFound", message: "namespaces \"ghost\" not found" })
  })

  test("invalid names are 422 Invalid naming metadata.name", async () => {
    const bad = await failure(c.core.createNamespacedConfigMap({ namespace: "default", body: cm("Bad_Name") }))
    expect(bad.code).toBe(422)
    expect(bad.reason).toBe("Invalid")
    expect(bad.details.causes[0].field).toBe("metadata.name")
  })

  test("creating an object that carries a resourceVersion fails as on a real server (500)", async () => {
    const o = await c.core.createNamespacedConfigMap({ namespace: "default", body: cm("copied") })
    await c.core.deleteNamespacedConfigMap({ name: "copied", namespace: "default" })
    const again = await failure(c.core.createNamespacedConfigMap({ namespace: "default", body: o }))
    expect(again.code).toBe(500)
    expect(again.message).toBe("resourceVersion should not be set on objects to be created")
  })

  test("wrong JSON types are refused at decoding (400), as the real server's Go structs do", async () => {
    const d = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "typed" },
      spec: {
        replicas: "3",
        selector: { matchLabels: { app: "t" } },
        template: { metadata: { labels: { app: "t" } }, spec: { containers: [{ name: "a", image: "i" }] } },
      },
    }
    const res = await raw(c.emulator, "POST", "/apis/apps/v1/namespaces/default/deployments", d)
    expect(res.status).toBe(400)
    expect(res.body.message).toBe(
      "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field .spec.replicas of type int32",
    )
    const label = await raw(c.emulator, "POST", "/api/v1/namespaces/default/configmaps", {
      metadata: { name: "lbl", labels: { n: 1 } },
    })
    expect(label.status).toBe(400)
    expect(label.body.message).toContain("metadata.labels")
  })

  test("generateName makes a unique name", async () => {
    const a = await c.core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { generateName: "gen-" } },
    })
    const b = await c.core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { generateName: "gen-" } },
    })
    expect(a.metadata?.name).toMatch(/^gen-[a-z0-9]{5}$/)
    expect(a.metadata?.name).not.toBe(b.metadata?.name)
  })

  test("a stale resourceVersion on update is 409 Conflict; none is unconditional", async () => {
    const first = await c.core.createNamespacedConfigMap({ namespace: "default", body: cm("occ") })
    const updated = await c.core.replaceNamespacedConfigMap({
      name: "occ",
      namespace: "default",
      body: { ...first, data: { a: "2" } },
    })
    expect(Number(updated.metadata?.resourceVersion)).toBeGreaterThan(Number(first.metadata?.resourceVersion))
    const stale = await failure(
      c.core.replaceNamespacedConfigMap({ name: "occ", namespace: "default", body: { ...first, data: { a: "3" } } }),
    )
    expect(stale.code).toBe(409)
    expect(stale.reason).toBe("Conflict")
    expect(stale.message).toContain(
      "the object has been modified; please apply your changes to the latest version and try again",
    )
    const blind = await c.core.replaceNamespacedConfigMap({
      name: "occ",
      namespace: "default",
      body: { metadata: { name: "occ" }, data: { a: "4" } },
    })
    expect(blind.data).toEqual({ a: "4" })
  })

  test("an update that changes nothing keeps the resourceVersion", async () => {
    const o = await c.core.createNamespacedConfigMap({ namespace: "default", body: cm("noop") })
    const again = await c.core.replaceNamespacedConfigMap({ name: "noop", namespace: "default", body: o })
    expect(again.metadata?.resourceVersion).toBe(o.metadata?.resourceVersion)
  })

  test("delete preconditions on uid are enforced", async () => {
    await c.core.createNamespacedConfigMap({ namespace: "default", body: cm("pre") })
    const wrong = await failure(
      c.core.deleteNamespacedConfigMap({
        name: "pre",
        namespace: "default",
        body: { preconditions: { uid: "not-it" } },
      }),
    )
    expect(wrong.code).toBe(409)
    await c.core.deleteNamespacedConfigMap({ name: "pre", namespace: "default" })
    expect((await failure(c.core.readNamespacedConfigMap({ name: "pre", namespace: "default" }))).code).toBe(404)
  })

  test("dryRun=All validates and answers without storing", async () => {
    const dry = await c.core.createNamespacedConfigMap({ namespace: "default", body: cm("dry"), dryRun: "All" })
    expect(dry.metadata?.name).toBe("dry")
    expect((await failure(c.core.readNamespacedConfigMap({ name: "dry", namespace: "default" }))).code).toBe(404)
  })

  test("Secrets fold stringData into base64 data; Services get a cluster IP and port defaults", async () => {
    const s = await c.core.createNamespacedSecret({
      namespace: "default",
      body: { metadata: { name: "s" }, stringData: { pw: "hunter2" } },
    })
    expect(s.data).toEqual({ pw: Buffer.from("hunter2").toString("base64") })
    expect(s.type).toBe("Opaque")
    const svc = await c.core.createNamespacedService({
      namespace: "default",
      body: { metadata: { name: "web" }, spec: { selector: { app: "web" }, ports: [{ port: 80 }] } },
    })
    expect(svc.spec?.clusterIP).toMatch(/^10\.96\./)
    expect(svc.spec?.ports?.[0]).toMatchObject({ port: 80, protocol: "TCP", targetPort: 80 })
  })
})

describe("events", () => {
  test("core and events.k8s.io Events share storage, each API in its own shape", async () => {
    const events = c.kc.makeApiClient(k8s.EventsV1Api)
    const now = new Date()
    await events.createNamespacedEvent({
      namespace: "default",
      body: {
        metadata: { name: "ev1" },
        eventTime: new k8s.V1MicroTime(now.getTime()),
        reason: "Scaled",
        note: "scaled to 3",
        type: "Normal",
        action: "Scale",
        reportingController: "oprc-crm",
        reportingInstance: "crm-0",
        regarding: { kind: "Deployment", name: "web", namespace: "default" },
      },
    })
    const core = await c.core.listNamespacedEvent({ namespace: "default", fieldSelector: "involvedObject.name=web" })
    expect(core.items.map((e) => [e.metadata?.name, e.message, e.reason, e.reportingComponent, e.involvedObject.kind]))
      .toEqual([["ev1", "scaled to 3", "Scaled", "oprc-crm", "Deployment"]])
    await c.core.createNamespacedEvent({
      namespace: "default",
      body: {
        metadata: { name: "ev2" },
        involvedObject: { kind: "Pod", name: "p" },
        message: "pulled",
        reason: "Pulled",
        type: "Normal",
      },
    })
    const v1 = await events.readNamespacedEvent({ name: "ev2", namespace: "default" })
    expect(v1.note).toBe("pulled")
    expect(v1.regarding?.name).toBe("p")
    expect(
      (await events.listNamespacedEvent({ namespace: "default", fieldSelector: "regarding.kind=Pod" })).items.map((e) =>
        e.metadata?.name
      ),
    ).toEqual(["ev2"])
  })
})

describe("leases", () => {
  test("two contenders for one Lease: the second write from the same resourceVersion loses with 409", async () => {
    const coord = c.kc.makeApiClient(k8s.CoordinationV1Api)
    // MicroTime fields need six fractional digits, as on a real server: a plain Date (three) is 400.
    const plain = await failure(
      coord.createNamespacedLease({
        namespace: "default",
        body: { metadata: { name: "leader" }, spec: { holderIdentity: "a", renewTime: new Date() as any } },
      }),
    )
    expect(plain.code).toBe(400)
    expect(plain.message).toContain("as \"2006-01-02T15:04:05.000000Z07:00\"")
    const lease = await coord.createNamespacedLease({
      namespace: "default",
      body: {
        metadata: { name: "leader" },
        spec: { holderIdentity: "a", leaseDurationSeconds: 15, renewTime: new k8s.V1MicroTime() },
      },
    })
    expect(lease.spec?.renewTime).toBeDefined()
    const takeover = (who: string) =>
      coord.replaceNamespacedLease({
        name: "leader",
        namespace: "default",
        body: { ...lease, spec: { ...lease.spec, holderIdentity: who } },
      })
    const first = await takeover("b")
    expect(first.spec?.holderIdentity).toBe("b")
    const second = await failure(takeover("c"))
    expect(second.code).toBe(409)
    expect((await coord.readNamespacedLease({ name: "leader", namespace: "default" })).spec?.holderIdentity).toBe("b")
    const bad = await failure(
      coord.createNamespacedLease({
        namespace: "default",
        body: { metadata: { name: "bad" }, spec: { leaseDurationSeconds: 0 } },
      }),
    )
    expect(bad.code).toBe(422)
  })
})

describe("lists", () => {
  beforeAll(async () => {
    await c.core.createNamespace({ body: { metadata: { name: "lists" } } })
    for (let i = 0; i < 7; i++) {
      await c.core.createNamespacedConfigMap({
        namespace: "lists",
        body: cm(`item-${i}`, { i: String(i) }, {
          tier: i % 2 ? "odd" : "even",
          ...(i === 3 ? { special: "yes" } : {}),
        }),
      })
    }
  })

  test("label selectors: = == != in notin exists !exists", async () => {
    const names = async (labelSelector: string) =>
      (await c.core.listNamespacedConfigMap({ namespace: "lists", labelSelector })).items.map((i) => i.metadata?.name)
    expect(await names("tier=odd")).toEqual(["item-1", "item-3", "item-5"])
    expect(await names("tier==even")).toEqual(["item-0", "item-2", "item-4", "item-6"])
    expect((await names("tier!=odd")).length).toBe(4)
    expect(await names("tier in (odd),special")).toEqual(["item-3"])
    expect((await names("tier notin (odd,even)")).length).toBe(0)
    expect(await names("!special,tier=odd")).toEqual(["item-1", "item-5"])
    const bad = await failure(c.core.listNamespacedConfigMap({ namespace: "lists", labelSelector: "tier in odd" }))
    expect(bad.code).toBe(400)
  })

  test("field selectors on metadata.name and metadata.namespace", async () => {
    const one = await c.core.listConfigMapForAllNamespaces({ fieldSelector: "metadata.name=item-2" })
    expect(one.items.map((i) => `${i.metadata?.namespace}/${i.metadata?.name}`)).toEqual(["lists/item-2"])
    const ns = await c.core.listConfigMapForAllNamespaces({
      fieldSelector: "metadata.namespace=lists,metadata.name!=item-0",
    })
    expect(ns.items.length).toBe(6)
    expect((await failure(c.core.listConfigMapForAllNamespaces({ fieldSelector: "spec.nope=1" }))).code).toBe(400)
  })

  test("limit/continue pages through a consistent snapshot", async () => {
    const page1 = await c.core.listNamespacedConfigMap({ namespace: "lists", limit: 3 })
    expect(page1.items.map((i) => i.metadata?.name)).toEqual(["item-0", "item-1", "item-2"])
    expect(page1.metadata?.remainingItemCount).toBe(4)
    // A write between pages is not seen by the rest of the same list.
    await c.core.createNamespacedConfigMap({ namespace: "lists", body: cm("item-25") })
    const page2 = await c.core.listNamespacedConfigMap({
      namespace: "lists",
      limit: 3,
      _continue: page1.metadata!._continue!,
    })
    expect(page2.items.map((i) => i.metadata?.name)).toEqual(["item-3", "item-4", "item-5"])
    expect(page2.metadata?.resourceVersion).toBe(page1.metadata?.resourceVersion)
    const page3 = await c.core.listNamespacedConfigMap({
      namespace: "lists",
      limit: 3,
      _continue: page2.metadata!._continue!,
    })
    expect(page3.items.map((i) => i.metadata?.name)).toEqual(["item-6"])
    expect(page3.metadata?._continue).toBeFalsy()
    await c.core.deleteNamespacedConfigMap({ name: "item-25", namespace: "lists" })
  })

  test("a continue token older than the history is 410 Expired", async () => {
    const page1 = await c.core.listNamespacedConfigMap({ namespace: "lists", limit: 2 })
    await c.core.createNamespacedConfigMap({ namespace: "lists", body: cm("after-compaction") })
    c.emulator.hooks.compact()
    const gone = await failure(
      c.core.listNamespacedConfigMap({ namespace: "lists", limit: 2, _continue: page1.metadata!._continue! }),
    )
    expect(gone).toMatchObject({ code: 410, reason: "Expired" })
    await c.core.deleteNamespacedConfigMap({ name: "after-compaction", namespace: "lists" })
  })

  test("resourceVersionMatch=Exact lists the past; too new is 504; match without RV is 400", async () => {
    const before = await c.core.listNamespacedConfigMap({ namespace: "lists" })
    await c.core.createNamespacedConfigMap({ namespace: "lists", body: cm("later") })
    const past = await c.core.listNamespacedConfigMap({
      namespace: "lists",
      resourceVersion: before.metadata!.resourceVersion!,
      resourceVersionMatch: "Exact",
    })
    expect(past.items.map((i) => i.metadata?.name)).not.toContain("later")
    const now = await c.core.listNamespacedConfigMap({
      namespace: "lists",
      resourceVersion: before.metadata!.resourceVersion!,
      resourceVersionMatch: "NotOlderThan",
    })
    expect(now.items.map((i) => i.metadata?.name)).toContain("later")
    expect((await failure(c.core.listNamespacedConfigMap({ namespace: "lists", resourceVersion: "99999999" }))).code)
      .toBe(504)
    expect((await failure(c.core.listNamespacedConfigMap({ namespace: "lists", resourceVersionMatch: "Exact" }))).code)
      .toBe(400)
    await c.core.deleteNamespacedConfigMap({ name: "later", namespace: "lists" })
  })
})

describe("watch", () => {
  test("RV unset sends ADDED for the current state, then live events; DELETED carries the final object", async () => {
    await c.core.createNamespace({ body: { metadata: { name: "w1" } } })
    await c.core.createNamespacedConfigMap({ namespace: "w1", body: cm("pre-existing") })
    const events: string[] = []
    const w = new k8s.Watch(c.kc)
    const ctl = await w.watch(
      "/api/v1/namespaces/w1/configmaps",
      {},
      (type, obj) => events.push(`${type} ${obj.metadata.name} ${JSON.stringify(obj.data ?? {})}`),
      () => {},
    )
    await eventually("initial ADDED", () => events.length === 1)
    await c.core.createNamespacedConfigMap({ namespace: "w1", body: cm("live") })
    await c.core.patchNamespacedConfigMap(
      { name: "live", namespace: "w1", body: { data: { a: "9" } } },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    )
    await c.core.deleteNamespacedConfigMap({ name: "live", namespace: "w1" })
    await eventually("live events", () => events.length === 4)
    ctl.abort()
    expect(events).toEqual([
      "ADDED pre-existing {\"a\":\"1\"}",
      "ADDED live {\"a\":\"1\"}",
      "MODIFIED live {\"a\":\"9\"}",
      "DELETED live {\"a\":\"9\"}",
    ])
  })

  test("RV=N replays history after N; a compacted RV gets 200 then ERROR 410 Expired", async () => {
    const list = await c.core.listNamespacedConfigMap({ namespace: "w1" })
    await c.core.createNamespacedConfigMap({ namespace: "w1", body: cm("replayed") })
    const seen: string[] = []
    const ctl = await new k8s.Watch(c.kc).watch(
      "/api/v1/namespaces/w1/configmaps",
      { resourceVersion: list.metadata!.resourceVersion },
      (type, obj) => seen.push(`${type} ${obj.metadata?.name ?? obj.code}`),
      () => {},
    )
    await eventually("replay", () => seen.length === 1)
    ctl.abort()
    expect(seen).toEqual(["ADDED replayed"])

    c.emulator.hooks.compact()
    const res = await raw(
      c.emulator,
      "GET",
      `/api/v1/namespaces/w1/configmaps?watch=true&timeoutSeconds=5&resourceVersion=${list.metadata!.resourceVersion}`,
    )
    expect(res.status).toBe(200)
    const event = events(res.text)[0]
    expect(event.type).toBe("ERROR")
    expect(event.object).toMatchObject({ kind: "Status", code: 410, reason: "Expired" })
    expect(event.object.message).toContain(`too old resource version: ${list.metadata!.resourceVersion}`)
  })

  test("selector transitions: an object leaving the selector is DELETED, entering is ADDED", async () => {
    await c.core.createNamespacedConfigMap({ namespace: "w1", body: cm("mover", {}, { pick: "yes" }) })
    const seen: string[] = []
    const ctl = await new k8s.Watch(c.kc).watch(
      "/api/v1/namespaces/w1/configmaps",
      { labelSelector: "pick=yes" },
      (type, obj) => seen.push(`${type} ${obj.metadata.labels?.pick ?? "-"}`),
      () => {},
    )
    await eventually("initial", () => seen.length === 1)
    const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch)
    await c.core.patchNamespacedConfigMap({
      name: "mover",
      namespace: "w1",
      body: { metadata: { labels: { pick: "no" } } },
    }, merge)
    await c.core.patchNamespacedConfigMap({
      name: "mover",
      namespace: "w1",
      body: { metadata: { labels: { pick: "yes" } } },
    }, merge)
    await eventually("transitions", () => seen.length === 3)
    ctl.abort()
    expect(seen).toEqual(["ADDED yes", "DELETED no", "ADDED yes"])
  })

  test("bookmarks carry only a resourceVersion; timeoutSeconds ends the stream", async () => {
    const c2 = await startCluster({ bookmarkIntervalMs: 100 })
    try {
      const started = Date.now()
      const res = await raw(
        c2.emulator,
        "GET",
        "/api/v1/namespaces?watch=true&allowWatchBookmarks=true&timeoutSeconds=1",
      )
      const elapsed = Date.now() - started
      const all = events(res.text)
      expect(elapsed).toBeGreaterThanOrEqual(900)
      expect(elapsed).toBeLessThan(8000)
      const bookmarks = all.filter((e) => e.type === "BOOKMARK")
      expect(bookmarks.length).toBeGreaterThan(2)
      expect(bookmarks[0].object).toEqual({
        kind: "Namespace",
        apiVersion: "v1",
        metadata: { resourceVersion: String(c2.emulator.hooks.resourceVersion()) },
      })
      expect(all.filter((e) => e.type === "ADDED").length).toBe(4)
    } finally {
      await c2.emulator.stop()
    }
  })

  test("an informer converges through drops, compaction (410 re-list) and latency", async () => {
    await c.core.createNamespace({ body: { metadata: { name: "inf" } } })
    for (let i = 0; i < 3; i++) await c.core.createNamespacedConfigMap({ namespace: "inf", body: cm(`c${i}`) })
    const informer = k8s.makeInformer(
      c.kc,
      "/api/v1/namespaces/inf/configmaps",
      () => c.core.listNamespacedConfigMap({ namespace: "inf" }),
    )
    const errors: unknown[] = []
    informer.on("error", (e) => {
      errors.push(e)
      // client-node stops on errors other than 410; a controller restarts it.
      setTimeout(() => informer.start(), 50)
    })
    await informer.start()
    const names = () => informer.list().map((o) => `${o.metadata?.name}=${o.data?.a}`).sort().join(",")
    await eventually("initial cache", () => names() === "c0=1,c1=1,c2=1")

    c.emulator.hooks.dropWatches()
    await c.core.createNamespacedConfigMap({ namespace: "inf", body: cm("c3") })
    await eventually("after a dropped watch", () => names() === "c0=1,c1=1,c2=1,c3=1")

    // Compaction while disconnected: the re-watch from the old RV gets 410 and re-lists.
    const isList = (r: string) => r.startsWith("GET /api/v1/namespaces/inf/configmaps") && !r.includes("watch=")
    const listsBefore = c.emulator.hooks.requests().filter(isList).length
    // The re-watch is held back by the latency hook while a write (made inside the emulator,
    // so without that latency) and a compaction happen.
    c.emulator.hooks.setLatency(300)
    c.emulator.hooks.dropWatches()
    const api = c.emulator.hooks.api
    api.delete({ rt: api.registry.get("", "v1", "configmaps")!, namespace: "inf", name: "c0" }, undefined, {})
    c.emulator.hooks.compact()
    await Bun.sleep(50)
    c.emulator.hooks.setLatency(0)
    await c.core.replaceNamespacedConfigMap({
      name: "c1",
      namespace: "inf",
      body: { metadata: { name: "c1" }, data: { a: "2" } },
    })
    await eventually("after compaction", () => names() === "c1=2,c2=1,c3=1", 20_000)
    expect(c.emulator.hooks.requests().filter(isList).length).toBeGreaterThan(listsBefore)
    await informer.stop()
  })
})

describe("discovery", () => {
  test("resource lists carry verbs, short names and status/scale subresources", async () => {
    const apps = await raw(c.emulator, "GET", "/apis/apps/v1")
    const byName = Object.fromEntries(apps.body.resources.map((r: any) => [r.name, r]))
    expect(byName.deployments).toMatchObject({ kind: "Deployment", namespaced: true, shortNames: ["deploy"] })
    expect(byName.deployments.verbs).toContain("watch")
    expect(byName["deployments/status"]).toMatchObject({ kind: "Deployment", verbs: ["get", "patch", "update"] })
    expect(byName["deployments/scale"]).toMatchObject({ group: "autoscaling", version: "v1", kind: "Scale" })
    const groups = await raw(c.emulator, "GET", "/apis")
    const names = groups.body.groups.map((g: any) => g.name)
    for (
      const g of [
        "apps",
        "batch",
        "autoscaling",
        "coordination.k8s.io",
        "events.k8s.io",
        "rbac.authorization.k8s.io",
        "apiextensions.k8s.io",
      ]
    ) expect(names).toContain(g)
    expect((await raw(c.emulator, "GET", "/version")).body.major).toBe("1")
    expect((await raw(c.emulator, "GET", "/apis/nope.example.com/v1")).status).toBe(404)
  })

  test("a configured token is required (401 Status otherwise)", async () => {
    const c2 = await startCluster({ token: "s3cret" })
    try {
      expect((await c2.core.listNamespace()).items.length).toBe(4)
      const res = await raw(c2.emulator, "GET", "/api/v1/namespaces")
      expect(res.status).toBe(401)
      expect(res.body.reason).toBe("Unauthorized")
    } finally {
      await c2.emulator.stop()
    }
  })
})
