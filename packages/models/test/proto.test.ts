import { create, fromJson } from "@bufbuild/protobuf"
import { NullValue, ValueSchema as PbValueSchema } from "@bufbuild/protobuf/wkt"
import { commonv1, odgmv1 } from "@oprc/proto"
import { describe, expect, test } from "bun:test"
import {
  collectionFromProto,
  conditionFromProto,
  deploymentFromProto,
  deploymentUnitFromProto,
  objectFromProto,
  packageFromProto,
  packageToProto,
  valueFromProto,
  valueToProto,
} from "../src/index"
import { valueOf, violationsOf } from "./helpers"

describe("fromProto: unset fields get the domain defaults", () => {
  test("UNSPECIFIED enums and absent messages", () => {
    const pkg = valueOf(packageFromProto(create(commonv1.PackageSchema, {
      name: "shop",
      version: "1.0.0",
      classes: [{ key: "Order", bindings: [{ name: "create", function: "Order.create" }] }],
      functions: [{ key: "Order.create" }],
    })))
    expect(pkg.classes[0]!.bindings[0]!.access).toBe("PUBLIC")
    expect(pkg.classes[0]!.state.consistency).toBe("EVENTUAL")
    expect(pkg.functions[0]!.type).toBe("CUSTOM")
    expect(pkg.functions[0]!.provision.resources.cpuLimit).toBe("")
    expect(pkg.metadata.tags).toEqual([])

    const d = valueOf(deploymentFromProto(create(commonv1.DeploymentSchema, {
      key: "d",
      packageName: "shop",
      classKey: "Order",
      odgm: { replicaCount: 2 },
    })))
    expect(d.enforcement).toBe("OBSERVE")
    // partition_count 0 is "unset" in proto3, not an out-of-range request.
    expect(d.odgm).toEqual({ partitionCount: 1, replicaCount: 2 })
    expect(d.nfr.consistency).toBeUndefined()

    const c = valueOf(conditionFromProto(create(commonv1.ConditionSchema, { type: "Available" })))
    expect(c).toEqual({ type: "Available", status: "Unknown", reason: "", message: "", observedGeneration: 0 })
  })
  test("timestamps become epoch milliseconds", () => {
    const pkg = packageToProto(
      valueOf(packageFromProto(create(commonv1.PackageSchema, { name: "a", version: "1.0.0" }))),
    )
    pkg.createdAt = { $typeName: "google.protobuf.Timestamp", seconds: 1_700_000_000n, nanos: 123_000_000 }
    expect(valueOf(packageFromProto(pkg)).createdAt).toBe(1_700_000_000_123)
  })
})

describe("fromProto validates like a REST body", () => {
  test("reference errors keep their domain paths", () => {
    const msg = create(commonv1.PackageSchema, {
      name: "shop",
      version: "1.0",
      classes: [{ key: "Order", bindings: [{ name: "create", function: "Order.create" }] }],
    })
    expect(violationsOf(packageFromProto(msg))).toEqual([{
      path: "version",
      message: `"1.0" is not a semantic version (e.g. "1.2.0")`,
    }])
    msg.version = "1.0.0"
    expect(violationsOf(packageFromProto(msg))).toEqual([
      { path: "classes[0].bindings[0].function", message: `function "Order.create" is not defined in this package` },
    ])
  })
  test("enum numbers unknown to this version are reported, not guessed", () => {
    // proto3 enums are open: a newer peer's value arrives as a plain number.
    const msg = fromJson(commonv1.PackageSchema, {
      name: "shop",
      version: "1.0.0",
      classes: [{ key: "Order", bindings: [{ name: "create", function: "f", access: 9 }] }],
      functions: [{ key: "f" }],
    })
    expect(violationsOf(packageFromProto(msg))).toEqual([
      { path: "classes[0].bindings[0].access", message: `expected one of "PUBLIC", "INTERNAL", "PRIVATE", got 9` },
    ])
  })
  test("uint64 values beyond 2^53 are rejected instead of rounded", () => {
    const msg = create(commonv1.DeploymentSchema, {
      key: "d",
      packageName: "shop",
      classKey: "Order",
      revision: 2n ** 60n,
    })
    expect(violationsOf(deploymentFromProto(msg))).toEqual([{
      path: "revision",
      message: "must be a non-negative integer",
    }])
  })
  test("required sub-messages: a trigger's target, a unit's class", () => {
    const pkg = create(commonv1.PackageSchema, {
      name: "shop",
      version: "1.0.0",
      classes: [{ key: "Order", triggers: [{ event: commonv1.TriggerEvent.DATA_UPDATE, source: "*" }] }],
    })
    expect(violationsOf(packageFromProto(pkg))).toEqual([{
      path: "classes[0].triggers[0].target",
      message: "is required",
    }])
    const unit = create(commonv1.DeploymentUnitSchema, {
      id: "d-eu",
      deploymentKey: "d",
      packageName: "shop",
      packageVersion: "1.0.0",
      cluster: "eu",
    })
    expect(violationsOf(deploymentUnitFromProto(unit))).toEqual([{ path: "cls", message: "is required" }])
  })
  test("a trigger event must be set", () => {
    const pkg = create(commonv1.PackageSchema, {
      name: "shop",
      version: "1.0.0",
      classes: [{ key: "Order", triggers: [{ source: "*", target: { function: "x" } }] }],
    })
    expect(violationsOf(packageFromProto(pkg))).toContainEqual({
      path: "classes[0].triggers[0].event",
      message: "is required",
    })
  })
  test("collections", () => {
    const msg = create(odgmv1.CollectionSchema, {
      name: "shop.Order",
      functions: { create: { url: "http://fn:8080", access: commonv1.AccessModifier.PRIVATE } },
    })
    const c = valueOf(collectionFromProto(msg))
    expect(c.partitionCount).toBe(1)
    expect(c.functions["create"]!.access).toBe("PRIVATE")
    msg.functions["create"]!.url = "fn:8080"
    expect(violationsOf(collectionFromProto(msg))).toEqual([{
      path: "functions.create.url",
      message: `"fn:8080" is not an http(s) URL`,
    }])
  })
})

describe("values", () => {
  test("JSON values and bytes", () => {
    const json = { a: [1, "two", true, null, { b: 2.5 }] }
    const msg = valueToProto(json)
    expect(msg.kind.case).toBe("json")
    expect(valueOf(valueFromProto(msg))).toEqual(json)
    const bytes = new Uint8Array([0, 255])
    expect(valueToProto(bytes).kind).toEqual({ case: "bytes", value: bytes })
  })
  test("NaN and unset kinds from the network are rejected with their paths", () => {
    const nan = create(commonv1.ValueSchema, {
      kind: {
        case: "json",
        value: create(PbValueSchema, {
          kind: { case: "structValue", value: { fields: { x: { kind: { case: "numberValue", value: Number.NaN } } } } },
        }),
      },
    })
    expect(violationsOf(valueFromProto(nan))).toEqual([{
      path: "x",
      message: "must be a finite number (JSON has no NaN or Infinity)",
    }])
    expect(violationsOf(valueFromProto(create(commonv1.ValueSchema, {})))).toEqual([{
      path: "",
      message: "must hold json or bytes",
    }])
    const object = create(odgmv1.ObjectSchema, {
      cls: "shop.Order",
      id: "o1",
      entries: {
        ok: {
          kind: {
            case: "json",
            value: create(PbValueSchema, { kind: { case: "nullValue", value: NullValue.NULL_VALUE } }),
          },
        },
        "bad key": {},
      },
    })
    expect(violationsOf(objectFromProto(object))).toEqual([{
      path: `entries["bad key"]`,
      message: "must hold json or bytes",
    }])
  })
})
