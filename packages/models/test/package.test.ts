import { describe, expect, test } from "bun:test"
import { Effect } from "effect"
import { checkDependencies, decodePackage, dependencyViolations, type Package } from "../src/index"
import { pathsOf, valueOf, violationsOf } from "./helpers"

interface Input {
  name: string
  version: string
  classes: Array<{
    key: string
    state?: { keys: Array<{ name: string; type: string }> }
    bindings: Array<{ name: string; function: string; access?: string }>
    triggers?: Array<unknown>
  }>
  functions: Array<{ key: string; provision?: Record<string, unknown>; config?: Record<string, string> }>
  dependencies: Array<{ name: string; version?: string }>
}

/** A small valid package; each test breaks one thing. */
const base = (): Input => ({
  name: "counter",
  version: "1.0.0",
  classes: [
    {
      key: "Counter",
      state: { keys: [{ name: "count", type: "NUMBER" }] },
      bindings: [
        { name: "incr", function: "Counter.incr" },
        { name: "get", function: "Counter.get", access: "INTERNAL" },
      ],
      triggers: [],
    },
    { key: "Audit", bindings: [{ name: "record", function: "Audit.record" }] },
  ],
  functions: [
    { key: "Counter.incr", provision: { command: ["bun", "incr.ts"] } },
    { key: "Counter.get", provision: { url: "http://localhost:9001" } },
    { key: "Audit.record" },
  ],
  dependencies: [],
})

const only = (input: unknown) => violationsOf(decodePackage(input))

describe("decodePackage: defaults", () => {
  test("fills every omitted field with its documented default", () => {
    const pkg = valueOf(decodePackage(base()))
    const cls = pkg.classes[0]!
    expect(cls.bindings[0]!.access).toBe("PUBLIC")
    expect(cls.bindings[0]!.stateless).toBe(false)
    expect(cls.state.consistency).toBe("EVENTUAL")
    expect(cls.state.keys[0]).toEqual({ name: "count", type: "NUMBER", required: false, description: "" })
    expect(pkg.classes[1]!.state).toEqual({ keys: [], consistency: "EVENTUAL" })
    expect(pkg.functions[2]!.type).toBe("CUSTOM")
    expect(pkg.functions[2]!.provision.port).toBe(0)
    expect(pkg.metadata).toEqual({ author: "", description: "", tags: [], labels: {} })
    expect(pkg.revision).toBe(0)
    expect("createdAt" in pkg).toBe(false)
  })
})

describe("decodePackage: field rules, each reported at its path", () => {
  test("name must be a DNS-1123 label", () => {
    expect(only({ ...base(), name: "My_Pkg" })).toEqual([
      { path: "name", message: "must be a DNS-1123 label (lowercase letters, digits and '-', at most 63 characters)" },
    ])
    expect(pathsOf(decodePackage({ ...base(), name: "a".repeat(64) }))).toEqual(["name"])
  })
  test("version must be a semantic version", () => {
    expect(only({ ...base(), version: "1.x" })).toEqual([{
      path: "version",
      message: `"1.x" is not a semantic version (e.g. "1.2.0")`,
    }])
  })
  test("missing required fields", () => {
    expect(only({})).toEqual([{ path: "name", message: "is required" }, { path: "version", message: "is required" }])
  })
  test("wrong types say what was expected and what was given", () => {
    expect(only({ ...base(), classes: "Counter" })).toEqual([{
      path: "classes",
      message: `expected a list, got "Counter"`,
    }])
    expect(only(42)).toEqual([{ path: "", message: "expected an object, got 42" }])
  })
  test("enum values list the allowed ones", () => {
    const input = base()
    input.classes[0]!.bindings[1]!.access = "internal"
    expect(only(input)).toEqual([
      {
        path: "classes[0].bindings[1].access",
        message: `expected one of "PUBLIC", "INTERNAL", "PRIVATE", got "internal"`,
      },
    ])
  })
  test("unknown fields are errors, with a suggestion for the Rust format's names", () => {
    const input = { ...base(), classes: [{ key: "Counter", function_bindings: [] }] }
    expect(only(input)).toEqual([{
      path: "classes[0].function_bindings",
      message: `unknown field; did you mean "bindings"?`,
    }])
  })
  test("class keys, binding names, function keys follow their patterns", () => {
    const input = base()
    input.classes[0]!.key = "1Counter"
    input.classes[0]!.bindings[0]!.name = "in cr"
    input.functions[2]!.key = "-audit"
    expect(pathsOf(decodePackage(input))).toEqual(["classes[0].key", "classes[0].bindings[0].name", "functions[2].key"])
  })
  test("provision: port range, URL, resource quantities", () => {
    const input = base()
    input.functions[0]!.provision = { command: [], port: 70000, url: "ftp://x", resources: { cpuLimit: "lots" } }
    expect(only(input)).toEqual([
      { path: "functions[0].provision.url", message: `"ftp://x" is not an http(s) URL` },
      { path: "functions[0].provision.port", message: "must be a port number (0 to 65535)" },
      {
        path: "functions[0].provision.resources.cpuLimit",
        message: `"lots" is not a resource quantity (e.g. "250m", "1", "512Mi")`,
      },
    ])
  })
  test("config keys are environment variable names the platform does not set", () => {
    const input = {
      ...base(),
      functions: [...base().functions, { key: "X", config: { PORT: "1", "log-level": "x", OK_1: "y" } }],
    }
    expect(only(input)).toEqual([
      { path: "functions[3].config.PORT", message: "PORT is set by the platform and cannot be configured" },
      { path: `functions[3].config["log-level"]`, message: `"log-level" is not an environment variable name` },
    ])
  })
  test("every problem is reported, not just the first", () => {
    expect(pathsOf(decodePackage({ ...base(), name: "X", version: "one", dependencies: [{ name: "Y" }] }))).toEqual([
      "name",
      "version",
      "dependencies[0].name",
    ])
  })
})

describe("decodePackage: references and uniqueness", () => {
  test("a binding's function must be defined in the package", () => {
    const input = base()
    input.classes[0]!.bindings[1]!.function = "Counter.decr"
    expect(only(input)).toEqual([
      { path: "classes[0].bindings[1].function", message: `function "Counter.decr" is not defined in this package` },
    ])
  })
  test("duplicate class keys, function keys, binding names, state keys", () => {
    const input = base()
    input.classes[1]!.key = "Counter"
    input.functions[2]!.key = "Counter.incr"
    input.classes[0]!.bindings[1]!.name = "incr"
    input.classes[0]!.state!.keys.push({ name: "count", type: "JSON" })
    expect(only(input)).toEqual([
      { path: "classes[1].key", message: `duplicate class key "Counter" (also classes[0])` },
      { path: "functions[2].key", message: `duplicate function key "Counter.incr" (also functions[0])` },
      { path: "classes[0].state.keys[1].name", message: `duplicate key "count" (also state.keys[0])` },
      { path: "classes[0].bindings[1].name", message: `duplicate binding name "incr" (also bindings[0])` },
      { path: "classes[1].bindings[0].function", message: `function "Audit.record" is not defined in this package` },
    ])
  })
  test("function-event triggers need a binding of the class as source", () => {
    const input = base()
    input.classes[0]!.triggers = [{ event: "FUNC_COMPLETE", source: "reset", target: { function: "get" } }]
    expect(only(input)).toEqual([{
      path: "classes[0].triggers[0].source",
      message: `"reset" is not a binding of class "Counter"`,
    }])
  })
  test("data-event triggers accept any entry key or *", () => {
    const input = base()
    input.classes[0]!.triggers = [
      { event: "DATA_UPDATE", source: "*", target: { function: "get" } },
      { event: "DATA_DELETE", source: "anything", target: { function: "incr" } },
    ]
    expect(valueOf(decodePackage(input)).classes[0]!.triggers.length).toBe(2)
  })
  test("trigger targets in this package must be existing bindings", () => {
    const input = base()
    input.classes[0]!.triggers = [
      { event: "DATA_UPDATE", source: "count", target: { function: "nope" } },
      { event: "DATA_UPDATE", source: "count", target: { cls: "counter.Audit", function: "nope" } },
      { event: "DATA_UPDATE", source: "count", target: { cls: "counter.Ghost", function: "record" } },
      {
        event: "DATA_UPDATE",
        source: "count",
        target: { cls: "counter.Audit", function: "record", objectId: "log-1" },
      },
      { event: "DATA_UPDATE", source: "count", target: { cls: "other.Thing", function: "whatever" } },
    ]
    expect(only(input)).toEqual([
      { path: "classes[0].triggers[0].target.function", message: `"nope" is not a binding of class "Counter"` },
      { path: "classes[0].triggers[1].target.function", message: `"nope" is not a binding of class "Audit"` },
      { path: "classes[0].triggers[2].target.cls", message: `class "Ghost" is not defined in this package` },
    ])
  })
  test("trigger target class and object id formats", () => {
    const input = base()
    input.classes[0]!.triggers = [{
      event: "DATA_UPDATE",
      source: "count",
      target: { cls: "Audit", function: "record", objectId: "Log 1" },
    }]
    expect(pathsOf(decodePackage(input))).toEqual([
      "classes[0].triggers[0].target.cls",
      "classes[0].triggers[0].target.objectId",
    ])
  })
  test("trigger header names and state key names", () => {
    const input = base()
    input.classes[0]!.state!.keys[0]!.name = "my count"
    input.classes[0]!.triggers = [{
      event: "DATA_UPDATE",
      source: "count",
      target: { function: "get", headers: { "x ok": "1", "x-ok": "2" } },
    }]
    expect(only(input)).toEqual([
      {
        path: "classes[0].state.keys[0].name",
        message: "must be 1 to 256 characters without whitespace or control characters",
      },
      { path: `classes[0].triggers[0].target.headers["x ok"]`, message: `"x ok" is not an HTTP header name` },
    ])
  })
  test("minScale must not exceed a set maxScale", () => {
    const input = base()
    input.functions[0]!.provision = { command: ["x"], minScale: 3, maxScale: 2 }
    expect(only(input)).toEqual([{ path: "functions[0].provision.minScale", message: "must not exceed maxScale (2)" }])
  })
  test("dependencies: valid names and ranges, no duplicates, not itself", () => {
    const input = {
      ...base(),
      dependencies: [{ name: "counter" }, { name: "lib", version: "^1.2.0" }, { name: "lib" }, {
        name: "x",
        version: "latest!",
      }],
    }
    expect(only(input)).toEqual([{
      path: "dependencies[3].version",
      message: `"latest!" is not a version range (e.g. "^1.2.0")`,
    }])
    input.dependencies.pop()
    expect(only(input)).toEqual([
      { path: "dependencies[2].name", message: `duplicate dependency "lib" (also dependencies[1])` },
      { path: "dependencies[0].name", message: "a package cannot depend on itself" },
    ])
  })
})

describe("checkDependencies", () => {
  const make = (name: string, deps: ReadonlyArray<readonly [string, string?]>, version = "1.0.0"): Package =>
    valueOf(
      decodePackage({
        name,
        version,
        dependencies: deps.map(([n, v]) => (v === undefined ? { name: n } : { name: n, version: v })),
      }),
    )
  const store = (...pkgs: ReadonlyArray<Package>) => (name: string) => pkgs.find((p) => p.name === name)

  test("missing dependencies", () => {
    expect(dependencyViolations(make("a", [["b"], ["c"]]), store(make("b", [])))).toEqual([
      { path: "dependencies[1].name", message: `package "c" does not exist` },
    ])
  })
  test("version ranges are checked against the stored version", () => {
    expect(dependencyViolations(make("a", [["b", "^2.0.0"]]), store(make("b", [], "1.4.0")))).toEqual([
      { path: "dependencies[0].version", message: `package "b" is at version 1.4.0, which does not satisfy "^2.0.0"` },
    ])
    expect(dependencyViolations(make("a", [["b", "^1.2.0"]]), store(make("b", [], "1.4.0")))).toEqual([])
  })
  test("a direct cycle", () => {
    expect(dependencyViolations(make("a", [["b"]]), store(make("b", [["a"]])))).toEqual([
      { path: "dependencies[0]", message: `package "b" depends back on "a" (cycle a -> b -> a)` },
    ])
  })
  test("a longer cycle, found through the stored graph", () => {
    const lookup = store(make("b", [["c"]]), make("c", [["d"]]), make("d", [["a"]]))
    expect(dependencyViolations(make("a", [["x-ok"], ["b"]]), (n) => (n === "x-ok" ? make("x-ok", []) : lookup(n))))
      .toEqual([
        { path: "dependencies[1]", message: `package "b" depends back on "a" (cycle a -> b -> c -> d -> a)` },
      ])
  })
  test("an update of a stored package is checked as the new version", () => {
    // Stored: a (no deps) <- b. Updating a to depend on b closes a cycle.
    const lookup = store(make("a", []), make("b", [["a"]]))
    expect(pathsOf(checkDependencies(make("a", [["b"]]), lookup))).toEqual(["dependencies[0]"])
  })
  test("an acyclic diamond passes", () => {
    const lookup = store(make("b", [["d"]]), make("c", [["d"]]), make("d", []))
    expect(Effect.runSync(Effect.result(checkDependencies(make("a", [["b"], ["c"]]), lookup)))._tag).toBe("Success")
  })
})
