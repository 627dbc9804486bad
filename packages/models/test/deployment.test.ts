import { describe, expect, test } from "bun:test"
import { decodeCollection, decodeDeployment, decodeDeploymentUnit, decodeObject, deploymentUnitId } from "../src/index"
import { pathsOf, valueOf, violationsOf } from "./helpers"

const deployment = (extra: Record<string, unknown> = {}) => ({
  key: "order-prod",
  packageName: "shop",
  classKey: "Order",
  ...extra,
})

describe("decodeDeployment", () => {
  test("defaults: observe, partition count 1, no NFRs, automatic placement", () => {
    expect<unknown>(valueOf(decodeDeployment(deployment()))).toStrictEqual({
      key: "order-prod",
      packageName: "shop",
      classKey: "Order",
      targetClusters: [],
      nfr: { minThroughputRps: 0, maxLatencyP99Ms: 0, availability: 0 },
      enforcement: "OBSERVE",
      clusterTemplates: {},
      odgm: { partitionCount: 1, replicaCount: 0 },
      revision: 0,
      placedClusters: [],
    })
  })
  test("key is a DNS-1123 label; package and class are required", () => {
    expect(violationsOf(decodeDeployment({ key: "Order_Prod" }))).toEqual([
      { path: "key", message: "must be a DNS-1123 label (lowercase letters, digits and '-', at most 63 characters)" },
      { path: "packageName", message: "is required" },
      { path: "classKey", message: "is required" },
    ])
    expect(pathsOf(decodeDeployment(deployment({ packageName: "", classKey: "" })))).toEqual([
      "packageName",
      "classKey",
    ])
  })
  test("availability is in (0, 1); rps and latency are >= 0", () => {
    for (const availability of [1, 1.5, -0.1]) {
      expect(violationsOf(decodeDeployment(deployment({ nfr: { availability } })))).toEqual([
        { path: "nfr.availability", message: "must be between 0 and 1, exclusive (e.g. 0.999), or 0 for not required" },
      ])
    }
    expect(
      pathsOf(
        decodeDeployment(deployment({ nfr: { minThroughputRps: -1, maxLatencyP99Ms: Number.POSITIVE_INFINITY } })),
      ),
    ).toEqual([
      "nfr.minThroughputRps",
      "nfr.maxLatencyP99Ms",
    ])
    expect(
      valueOf(decodeDeployment(deployment({ nfr: { availability: 0.999, consistency: "STRONG" } }))).nfr.consistency,
    ).toBe("STRONG")
  })
  test("partitionCount is 1..1024", () => {
    for (const partitionCount of [0, 1025, 2.5]) {
      expect(violationsOf(decodeDeployment(deployment({ odgm: { partitionCount } })))).toEqual([
        { path: "odgm.partitionCount", message: "must be an integer from 1 to 1024" },
      ])
    }
    expect(
      valueOf(decodeDeployment(deployment({ odgm: { partitionCount: 1024, storage: "NATS" } }))).odgm.partitionCount,
    ).toBe(1024)
  })
  test("cluster names are DNS-1123 labels and unique", () => {
    expect(violationsOf(decodeDeployment(deployment({ targetClusters: ["edge-eu", "Cloud_US", "edge-eu"] })))).toEqual([
      {
        path: "targetClusters[1]",
        message: "must be a DNS-1123 label (lowercase letters, digits and '-', at most 63 characters)",
      },
    ])
    expect(violationsOf(decodeDeployment(deployment({ targetClusters: ["edge-eu", "edge-eu"] })))).toEqual([
      { path: "targetClusters[1]", message: `duplicate cluster "edge-eu"` },
    ])
  })
  test("placed clusters and per-cluster statuses", () => {
    const d = deployment({
      placedClusters: ["eu", "EU"],
      status: {
        phase: "Degraded",
        clusters: [{ cluster: "eu", phase: "Running" }, { cluster: "eu", conditions: [{ type: "" }] }],
      },
    })
    expect(violationsOf(decodeDeployment(d))).toEqual([
      { path: "status.clusters[1].conditions[0].type", message: `must not be empty (e.g. "Available")` },
      {
        path: "placedClusters[1]",
        message: "must be a DNS-1123 label (lowercase letters, digits and '-', at most 63 characters)",
      },
    ])
    const d2 = deployment({ status: { clusters: [{ cluster: "eu" }, { cluster: "eu" }] } })
    expect(violationsOf(decodeDeployment(d2))).toEqual([{
      path: "status.clusters[1].cluster",
      message: `duplicate cluster "eu"`,
    }])
  })
  test("templates are keyed by target clusters when targets are given", () => {
    const d = deployment({
      targetClusters: ["edge-eu"],
      clusterTemplates: { "edge-eu": "knative", "cloud-us": "k8s-deployment", "Bad!": "x" },
    })
    expect(violationsOf(decodeDeployment(d))).toEqual([
      { path: `clusterTemplates["Bad!"]`, message: `"Bad!" is not a cluster name (a DNS-1123 label)` },
    ])
    const d2 = deployment({ targetClusters: ["edge-eu"], clusterTemplates: { "edge-eu": "", "cloud-us": "knative" } })
    expect(violationsOf(decodeDeployment(d2))).toEqual([
      { path: `clusterTemplates["edge-eu"]`, message: "template name must not be empty" },
      { path: `clusterTemplates["cloud-us"]`, message: `"cloud-us" is not one of targetClusters` },
    ])
    // Without targets, placement is automatic and any cluster may get a template.
    expect(valueOf(decodeDeployment(deployment({ clusterTemplates: { "cloud-us": "knative" } }))).clusterTemplates)
      .toEqual({ "cloud-us": "knative" })
  })
  test("enforcement and phases are string literals", () => {
    expect(pathsOf(decodeDeployment(deployment({ enforcement: "STRICT", status: { phase: "running" } })))).toEqual([
      "enforcement",
      "status.phase",
    ])
  })
})

describe("decodeDeploymentUnit", () => {
  const unit = (cls: unknown, functions: unknown) => ({
    id: deploymentUnitId("order-prod", "edge-eu"),
    deploymentKey: "order-prod",
    packageName: "shop",
    packageVersion: "1.0.0",
    cluster: "edge-eu",
    cls,
    functions,
  })
  test("the class's bindings must resolve to the unit's functions; other classes are not checked", () => {
    const cls = {
      key: "Order",
      bindings: [{ name: "create", function: "Order.create" }, { name: "pay", function: "Order.pay" }],
      triggers: [{ event: "DATA_UPDATE", source: "*", target: { cls: "shop.Inventory", function: "reserve" } }],
    }
    expect(violationsOf(decodeDeploymentUnit(unit(cls, [{ key: "Order.create" }])))).toEqual([
      { path: "cls.bindings[1].function", message: `function "Order.pay" is not defined in this unit's functions` },
    ])
    expect(valueOf(decodeDeploymentUnit(unit(cls, [{ key: "Order.create" }, { key: "Order.pay" }]))).id).toBe(
      "order-prod-edge-eu",
    )
  })
  test("class is required and the package version is a semantic version", () => {
    expect(pathsOf(decodeDeploymentUnit({ ...unit(undefined, []), packageVersion: "v1" }))).toEqual([
      "packageVersion",
      "cls",
    ])
  })
})

describe("decodeCollection", () => {
  const collection = (extra: Record<string, unknown> = {}) => ({
    name: "shop.Order",
    functions: {
      create: { url: "http://10.0.0.1:8080", functionKey: "Order.create" },
      quote: { url: "", stateless: true },
    },
    ...extra,
  })
  test("defaults", () => {
    const c = valueOf(decodeCollection(collection()))
    expect(c.partitionCount).toBe(1)
    expect(c.consistency).toBe("EVENTUAL")
    expect(c.functions["create"]).toEqual({
      url: "http://10.0.0.1:8080",
      stateless: false,
      access: "PUBLIC",
      timeoutMs: 0,
      functionKey: "Order.create",
    })
  })
  test("name is <package>.<Class>; partitions 1..1024; routes have http URLs and binding names", () => {
    expect(violationsOf(decodeCollection({
      name: "Order",
      partitionCount: 0,
      functions: { "bad name": { url: "x" } },
    }))).toEqual([
      { path: "name", message: `must be "<package>.<Class>" (a DNS-1123 package name, a dot, and a class key)` },
      { path: "partitionCount", message: "must be an integer from 1 to 1024" },
      { path: `functions["bad name"].url`, message: `"x" is not an http(s) URL` },
    ])
    expect(violationsOf(decodeCollection(collection({ functions: { "bad name": { url: "http://x" } } })))).toEqual([
      { path: `functions["bad name"]`, message: `"bad name" is not a binding name` },
    ])
  })
  test("triggers refer to the collection's functions", () => {
    const c = collection({
      triggers: [
        { event: "FUNC_ERROR", source: "pay", target: { function: "create" } },
        { event: "DATA_CREATE", source: "*", target: { cls: "shop.Order", function: "constructor" } },
        { event: "DATA_CREATE", source: "*", target: { cls: "shop.Audit", function: "record" } },
      ],
    })
    expect(violationsOf(decodeCollection(c))).toEqual([
      { path: "triggers[0].source", message: `"pay" is not a function of collection "shop.Order"` },
      { path: "triggers[1].target.function", message: `"constructor" is not a function of collection "shop.Order"` },
    ])
  })
})

describe("decodeObject", () => {
  test("ids are [a-z0-9._:-]{1,160}, not . or ..", () => {
    for (const id of ["", "Upper", "with space", "x".repeat(161), "ü", ".", ".."]) {
      expect(violationsOf(decodeObject({ cls: "shop.Order", id }))).toEqual([
        {
          path: "id",
          message:
            "must be 1 to 160 characters of lowercase letters, digits, '.', '_', ':' and '-' (not \".\" or \"..\")",
        },
      ])
    }
    expect<string>(valueOf(decodeObject({ cls: "shop.Order", id: "order:2024.01_a-1" })).id).toBe("order:2024.01_a-1")
  })
  test("entries hold JSON values or bytes", () => {
    const o = valueOf(
      decodeObject({
        cls: "shop.Order",
        id: "o1",
        entries: { status: "new", items: [{ sku: "a", n: 2 }], blob: new Uint8Array([1, 2]) },
      }),
    )
    expect<unknown>(o.entries["blob"]).toEqual(new Uint8Array([1, 2]))
    expect(o.version).toBe(0)
    expect(pathsOf(decodeObject({ cls: "shop.Order", id: "o1", entries: { when: new Date(0) } }))).toEqual([
      "entries.when",
    ])
  })
})
