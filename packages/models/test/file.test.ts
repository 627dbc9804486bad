import { describe, expect, test } from "bun:test"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { loadPackageFile, packageToYaml, parsePackageText } from "../src/index"
import { valueOf, violationsOf } from "./helpers"

const shop = readFileSync(join(import.meta.dir, "fixtures", "shop.yaml"), "utf8")

describe("loadPackageFile", () => {
  test("the shop fixture loads with its deployments returned separately", () => {
    const { package: pkg, deployments } = valueOf(loadPackageFile(shop, "yaml"))
    expect<string>(pkg.name).toBe("shop")
    expect(pkg.classes.map((c): string => c.key)).toEqual(["Order", "Inventory"])
    expect(pkg.classes[0]!.state.consistency).toBe("STRONG")
    expect(pkg.classes[0]!.bindings.find((b) => b.name === "ship")!.access).toBe("INTERNAL")
    expect(pkg.functions.find((f) => f.key === "Order.create")!.provision).toMatchObject({
      port: 8080,
      http2: true,
      minScale: 1,
      maxScale: 10,
    })
    expect(pkg.functions.find((f) => f.key === "Inventory.restock")!.type).toBe("BUILTIN")
    expect(deployments.map((d): Array<string> => [d.key, d.packageName, d.classKey])).toEqual([[
      "order-prod",
      "shop",
      "Order",
    ], ["inventory-dev", "shop", "Inventory"]])
    expect(deployments[0]!.odgm).toEqual({ partitionCount: 4, replicaCount: 0, storage: "NATS" })
    expect(deployments[1]!.enforcement).toBe("OBSERVE")
  })
  test("writing the fixture back and loading it again gives the same package", () => {
    const first = valueOf(loadPackageFile(shop, "yaml"))
    const again = valueOf(loadPackageFile(packageToYaml(first.package, first.deployments), "yaml"))
    expect(again).toStrictEqual(first)
  })
  test("packageToYaml omits defaults", () => {
    const { package: pkg } = valueOf(loadPackageFile("name: tiny\nversion: 0.1.0\nclasses: [{key: A}]\n", "yaml"))
    expect(packageToYaml(pkg)).toBe("name: tiny\nversion: 0.1.0\nclasses:\n  - key: A\n")
  })
  test("an empty value counts as absent", () => {
    const { package: pkg } = valueOf(
      loadPackageFile("name: tiny\nversion: 0.1.0\nmetadata:\n  description:\nclasses:\n", "yaml"),
    )
    expect(pkg.metadata.description).toBe("")
    expect(pkg.classes).toEqual([])
  })
  test("YAML syntax errors carry line and column, at path \"\"", () => {
    expect(violationsOf(loadPackageFile("name: shop\nversion: 1.0.0\nclasses: [a, b\n", "yaml"))).toEqual([
      {
        path: "",
        message:
          "YAML syntax error at line 4, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]",
      },
    ])
    expect(violationsOf(loadPackageFile("name: a\nname: b\n", "yaml"))).toEqual([
      { path: "", message: "YAML syntax error at line 2, column 1: Map keys must be unique" },
    ])
  })
  test("unresolved aliases are errors, not crashes", () => {
    const [v] = violationsOf(loadPackageFile("name: *nope\n", "yaml"))
    expect(v!.path).toBe("")
    expect(v!.message).toStartWith("YAML")
  })
  test("JSON syntax errors say roughly where", () => {
    expect(violationsOf(loadPackageFile(`{"name": "a"\n "version": "1.0.0"}`, "json"))).toEqual([
      { path: "", message: "JSON syntax error (near line 2, column 2): Expected '}'" },
    ])
  })
  test("schema errors in a file point into the file", () => {
    const text =
      "name: shop\nversion: 1.0.0\nclasses:\n  - key: Order\n    bindings:\n      - {name: create, function: Order.create}\n"
    expect(violationsOf(loadPackageFile(text, "yaml"))).toEqual([
      { path: "classes[0].bindings[0].function", message: `function "Order.create" is not defined in this package` },
    ])
  })
  test("deployments: package name implied, class must exist, errors under deployments[i], reported with the package's", () => {
    const text = [
      "name: shop",
      "version: 1.0.0",
      "description: misplaced",
      "classes: [{key: Order}]",
      "deployments:",
      "  - {key: a, classKey: Order}",
      "  - {key: b, classKey: Ghost}",
      "  - {key: c, packageName: other, classKey: Order}",
      "  - {key: D, classKey: Order, nfr: {availability: 2}}",
    ].join("\n")
    expect(violationsOf(loadPackageFile(text, "yaml"))).toEqual([
      { path: "description", message: "unknown field" },
      {
        path: "deployments[3].key",
        message: "must be a DNS-1123 label (lowercase letters, digits and '-', at most 63 characters)",
      },
      {
        path: "deployments[3].nfr.availability",
        message: "must be between 0 and 1, exclusive (e.g. 0.999), or 0 for not required",
      },
    ])
    const valid = text.replace("description: misplaced\n", "").replace(
      "  - {key: D, classKey: Order, nfr: {availability: 2}}",
      "",
    )
    expect(violationsOf(loadPackageFile(valid, "yaml"))).toEqual([
      { path: "deployments[1].classKey", message: `class "Ghost" is not defined in this package` },
      { path: "deployments[2].packageName", message: `must be "shop", the package of this file` },
    ])
  })
  test("deployments must be a list", () => {
    expect(violationsOf(loadPackageFile("name: shop\nversion: 1.0.0\ndeployments: {key: a}\n", "yaml"))).toEqual([
      { path: "deployments", message: "expected a list" },
    ])
  })
})

describe("parsePackageText", () => {
  const json = JSON.stringify({ name: "tiny", version: "1.0.0" })
  test("chooses the format from the content type, ignoring parameters", () => {
    expect<string>(valueOf(parsePackageText(json, "application/json; charset=utf-8")).package.name).toBe("tiny")
    expect<string>(valueOf(parsePackageText("name: tiny\nversion: 1.0.0\n", "application/yaml")).package.name).toBe(
      "tiny",
    )
    expect<string>(valueOf(parsePackageText("name: tiny\nversion: 1.0.0\n", "text/x-yaml")).package.name).toBe("tiny")
  })
  test("sniffs the format without a content type", () => {
    expect<string>(valueOf(parsePackageText(`  ${json}`)).package.name).toBe("tiny")
    expect<string>(valueOf(parsePackageText("name: tiny\nversion: 1.0.0\n")).package.name).toBe("tiny")
  })
  test("rejects other content types", () => {
    expect(violationsOf(parsePackageText(json, "text/plain"))).toEqual([
      { path: "", message: `unsupported content type "text/plain" (use application/json or application/yaml)` },
    ])
  })
})
