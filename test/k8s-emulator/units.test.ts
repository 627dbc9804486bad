// The emulator's parsers and merge rules on their own, where the HTTP tests would not pinpoint a fault.
import { describe, expect, test } from "bun:test"
import { compareVersions } from "./src/discovery.ts"
import { fieldsOf, fromFieldsV1, pathString, toFieldsV1 } from "./src/fieldset.ts"
import { evaluate } from "./src/jsonpath.ts"
import { mergePatch } from "./src/patch.ts"
import { parseFieldSelector, parseLabelSelector } from "./src/selectors.ts"
import { strategicMerge } from "./src/strategic.ts"
import { humanAge } from "./src/table.ts"

describe("selectors", () => {
  test("label selector operators", () => {
    const labels = { app: "web", tier: "front", "example.com/team": "a" }
    const t = (s: string) => parseLabelSelector(s)(labels)
    expect(t("app=web,tier==front")).toBe(true)
    expect(t("app!=web")).toBe(false)
    expect(t("missing!=x")).toBe(true)
    expect(t("tier in (back, front)")).toBe(true)
    expect(t("tier notin (front)")).toBe(false)
    expect(t("example.com/team")).toBe(true)
    expect(t("!example.com/team")).toBe(false)
    expect(t("!missing,app")).toBe(true)
    expect(() => parseLabelSelector("app=we b")).toThrow()
    expect(() => parseLabelSelector("a,,b")).toThrow()
  })

  test("field selectors accept only supported fields", () => {
    const o = { metadata: { name: "x", namespace: "ns" }, involvedObject: { name: "pod-1" } }
    expect(parseFieldSelector("metadata.name=x,metadata.namespace!=other", "ConfigMap")(o)).toBe(true)
    expect(parseFieldSelector("involvedObject.name=pod-1", "Event")(o)).toBe(true)
    expect(() => parseFieldSelector("involvedObject.name=pod-1", "ConfigMap")).toThrow(
      "field label not supported: involvedObject.name",
    )
  })
})

describe("patches", () => {
  test("strategic merge directives: $retainKeys, $deleteFromPrimitiveList, $setElementOrder, $patch: replace", () => {
    const orig = {
      metadata: { finalizers: ["a", "b", "c"] },
      spec: {
        strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1 } },
        template: { spec: { containers: [{ name: "x", image: "1" }, { name: "y", image: "2" }] } },
      },
    }
    const out = strategicMerge(orig, {
      metadata: { "$deleteFromPrimitiveList/finalizers": ["b"], finalizers: ["d"] },
      spec: {
        strategy: { $retainKeys: ["type"], type: "Recreate" },
        template: {
          spec: {
            "$setElementOrder/containers": [{ name: "y" }, { name: "x" }],
            containers: [{ name: "y", image: "3" }],
          },
        },
      },
    })
    expect(out.metadata.finalizers).toEqual(["a", "c", "d"])
    expect(out.spec.strategy).toEqual({ type: "Recreate" })
    expect(out.spec.template.spec.containers).toEqual([{ name: "x", image: "1" }, { name: "y", image: "3" }])
    const replaced = strategicMerge(orig, {
      spec: { template: { spec: { containers: [{ $patch: "replace" }, { name: "z", image: "9" }] } } },
    })
    expect(replaced.spec.template.spec.containers).toEqual([{ name: "z", image: "9" }])
    // Lists without a merge key (args) are replaced whole.
    expect(strategicMerge({ args: ["a", "b"] }, { args: ["c"] }).args).toEqual(["c"])
  })

  test("merge patch follows RFC 7396", () => {
    expect(mergePatch({ a: "b", c: { d: "e", f: "g" } }, { a: "z", c: { f: null } })).toEqual({ a: "z", c: { d: "e" } })
    expect(mergePatch({ a: [1, 2] }, { a: [3] })).toEqual({ a: [3] })
  })
})

describe("managed fields", () => {
  test("FieldsV1 round-trips, with '.' for list items that have fields", () => {
    const obj = {
      metadata: { name: "x", labels: { app: "a" }, finalizers: ["f"] },
      spec: { containers: [{ name: "c", image: "i", ports: [{ containerPort: 80 }] }], replicas: 2 },
    }
    const set = fieldsOf(obj, { builtin: true }, "main")
    const v1 = toFieldsV1(set)
    expect(v1).toEqual({
      "f:metadata": { "f:labels": { "f:app": {} }, "f:finalizers": { "v:\"f\"": {} } },
      "f:spec": {
        "f:containers": {
          "k:{\"name\":\"c\"}": {
            ".": {},
            "f:name": {},
            "f:image": {},
            "f:ports": { "k:{\"containerPort\":80}": { ".": {}, "f:containerPort": {} } },
          },
        },
        "f:replicas": {},
      },
    })
    expect([...fromFieldsV1(v1)].sort()).toEqual([...set].sort())
    const image = [...set].find((p) => p.endsWith("f:image"))!
    expect(pathString(image)).toBe(".spec.containers[name=\"c\"].image")
  })
})

describe("tables and discovery", () => {
  test("JSONPath for printer columns", () => {
    const o = {
      status: { conditions: [{ type: "A", status: "False" }, { type: "Ready", status: "True" }] },
      spec: { items: [1, 2] },
    }
    expect(evaluate(".status.conditions[?(@.type==\"Ready\")].status", o)).toEqual(["True"])
    expect(evaluate(".spec.items[1]", o)).toEqual([2])
    expect(evaluate(".spec.missing", o)).toEqual([])
  })

  test("ages print like kubectl", () => {
    const now = Date.parse("2026-01-10T00:00:00Z")
    const ago = (s: number) => new Date(now - s * 1000).toISOString()
    expect(humanAge(ago(5), now)).toBe("5s")
    expect(humanAge(ago(150), now)).toBe("2m30s")
    expect(humanAge(ago(3600), now)).toBe("60m")
    expect(humanAge(ago(5 * 3600 + 120), now)).toBe("5h2m")
    expect(humanAge(ago(3 * 86400), now)).toBe("3d")
  })

  test("version priority: GA, then beta, then alpha", () => {
    expect(["v1beta1", "v1alpha1", "v2", "v1", "v2beta2"].sort(compareVersions)).toEqual([
      "v2",
      "v1",
      "v2beta2",
      "v1beta1",
      "v1alpha1",
    ])
  })
})
