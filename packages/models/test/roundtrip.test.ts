import { fromBinary, toBinary } from "@bufbuild/protobuf"
import { commonv1, odgmv1 } from "@oprc/proto"
import { describe, expect, test } from "bun:test"
import { Effect, Result } from "effect"
import fc from "fast-check"
import {
  collectionFromProto,
  collectionToProto,
  conditionFromProto,
  conditionToProto,
  decodeCollection,
  decodeDeployment,
  decodePackage,
  deploymentFromProto,
  deploymentToProto,
  deploymentUnitFromProto,
  deploymentUnitToProto,
  encodeDeployment,
  encodePackage,
  loadPackageFile,
  objectFromProto,
  objectToProto,
  packageFromProto,
  packageToJson,
  packageToProto,
  packageToYaml,
  valueFromProto,
  valueToProto,
} from "../src/index"
import * as A from "./arbitraries"
import { valueOf } from "./helpers"

const runs = { numRuns: 300 }
// The yaml library needs a few milliseconds per generated package; give properties room.
const timeout = 60_000

describe("domain -> proto -> domain is the identity", () => {
  test("Package (also through the binary wire format)", () => {
    fc.assert(
      fc.property(A.pkg, (p) => {
        const wire = fromBinary(commonv1.PackageSchema, toBinary(commonv1.PackageSchema, packageToProto(p)))
        expect(valueOf(packageFromProto(wire))).toStrictEqual(p)
      }),
      runs,
    )
  }, timeout)
  test("Deployment", () => {
    fc.assert(
      fc.property(A.deployment, (d) => {
        const wire = fromBinary(commonv1.DeploymentSchema, toBinary(commonv1.DeploymentSchema, deploymentToProto(d)))
        expect(valueOf(deploymentFromProto(wire))).toStrictEqual(d)
      }),
      runs,
    )
  }, timeout)
  test("DeploymentUnit", () => {
    fc.assert(
      fc.property(A.deploymentUnit, (u) => {
        expect(valueOf(deploymentUnitFromProto(deploymentUnitToProto(u)))).toStrictEqual(u)
      }),
      runs,
    )
  }, timeout)
  test("Condition", () => {
    fc.assert(
      fc.property(A.condition, (c) => {
        expect(valueOf(conditionFromProto(conditionToProto(c)))).toStrictEqual(c)
      }),
      runs,
    )
  }, timeout)
  test("Collection", () => {
    fc.assert(
      fc.property(A.collection, (c) => {
        const wire = fromBinary(odgmv1.CollectionSchema, toBinary(odgmv1.CollectionSchema, collectionToProto(c)))
        expect(valueOf(collectionFromProto(wire))).toStrictEqual(c)
      }),
      runs,
    )
  }, timeout)
  test("DataObject", () => {
    fc.assert(
      fc.property(A.dataObject, (o) => {
        expect(valueOf(objectFromProto(objectToProto(o)))).toStrictEqual(o)
      }),
      runs,
    )
  }, timeout)
  test("Value (JSON and bytes)", () => {
    fc.assert(
      fc.property(A.value, (v) => {
        const wire = fromBinary(commonv1.ValueSchema, toBinary(commonv1.ValueSchema, valueToProto(v)))
        expect(valueOf(valueFromProto(wire))).toStrictEqual(v)
      }),
      runs,
    )
  }, timeout)
})

describe("domain -> file -> domain is the identity", () => {
  test("Package with deployments, as YAML", () => {
    fc.assert(
      fc.property(A.pkg, fc.array(A.deployment, { maxLength: 2 }), (p, ds) => {
        // In a file, deployments belong to its package and name one of its classes.
        const deployments = p.classes.length === 0
          ? []
          : ds.map((d, i) => ({ ...d, packageName: p.name, classKey: p.classes[i % p.classes.length]!.key }))
        const file = valueOf(loadPackageFile(packageToYaml(p, deployments), "yaml"))
        expect(file.package).toStrictEqual(p)
        expect(file.deployments).toStrictEqual(deployments)
      }),
      // The yaml library is the slow part; fewer, still varied, runs.
      { numRuns: 150 },
    )
  }, timeout)
  test("Package as JSON", () => {
    fc.assert(
      fc.property(A.pkg, (p) => {
        expect(valueOf(loadPackageFile(packageToJson(p), "json")).package).toStrictEqual(p)
      }),
      runs,
    )
  }, timeout)
  test("encode then decode (the REST body form)", () => {
    fc.assert(
      fc.property(A.pkg, A.deployment, A.collection, (p, d, c) => {
        expect(valueOf(decodePackage(encodePackage(p)))).toStrictEqual(p)
        expect(valueOf(decodeDeployment(encodeDeployment(d)))).toStrictEqual(d)
        expect(valueOf(decodeCollection(c))).toStrictEqual(c)
      }),
      runs,
    )
  }, timeout)
})

const neverThrows = <A, E>(effect: Effect.Effect<A, E>): boolean => {
  const result = Effect.runSync(Effect.result(effect))
  return Result.isSuccess(result) ||
    (typeof result.failure === "object" && result.failure !== null && "_tag" in result.failure &&
      result.failure._tag === "ValidationError")
}

describe("junk never throws: it decodes or fails with a ValidationError", () => {
  const junk = fc.anything({
    withBigInt: true,
    withDate: true,
    withMap: true,
    withNullPrototype: true,
    withTypedArray: true,
    withSparseArray: true,
    withBoxedValues: true,
  })
  // Valid-looking shapes with junk in random places reach the deeper checks.
  const nearlyPackage = fc.record({
    name: fc.oneof(A.packageName, junk),
    version: fc.oneof(A.semver, junk),
    classes: fc.oneof(
      junk,
      fc.array(
        fc.record({ key: fc.oneof(A.classKey, junk), bindings: junk, triggers: junk, state: junk }, {
          requiredKeys: [],
        }),
      ),
    ),
    functions: fc.oneof(junk, fc.array(fc.record({ key: junk, provision: junk, config: junk }, { requiredKeys: [] }))),
    dependencies: junk,
    deployments: fc.oneof(
      junk,
      fc.array(fc.record({ key: junk, classKey: junk, nfr: junk, odgm: junk }, { requiredKeys: [] })),
    ),
  }, { requiredKeys: [] })

  test("decodePackage / decodeDeployment / decodeCollection", () => {
    fc.assert(
      fc.property(fc.oneof(junk, nearlyPackage), (u) => {
        expect(neverThrows(decodePackage(u))).toBe(true)
        expect(neverThrows(decodeDeployment(u))).toBe(true)
        expect(neverThrows(decodeCollection(u))).toBe(true)
      }),
      { numRuns: 1000 },
    )
  }, timeout)
  test("loadPackageFile on arbitrary text", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string({ unit: "binary" }),
          nearlyPackage.map((u) => JSON.stringify(u, (_, v: unknown) => (typeof v === "bigint" ? String(v) : v)) ?? ""),
        ),
        (text) => {
          expect(neverThrows(loadPackageFile(text, "yaml"))).toBe(true)
          expect(neverThrows(loadPackageFile(text, "json"))).toBe(true)
        },
      ),
      { numRuns: 1000 },
    )
  }, timeout)
})
