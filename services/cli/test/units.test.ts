import { describe, expect, test } from "bun:test"
import { diff, renderChanges } from "../src/cli/diff"
import { table } from "../src/cli/Output"
import { devArgs } from "../src/commands/dev"
import { newLines } from "../src/commands/logs"

// The pure pieces behind apply --dry-run, logs --follow, tables and oprc dev's own flags.
describe("diff", () => {
  test("field paths for changed, added and removed values; nothing for equal input", () => {
    const before = {
      name: "p",
      version: "1.0.0",
      classes: [{ key: "A", bindings: [{ name: "f", function: "x" }] }],
      metadata: { tags: ["a"] },
    }
    const after = {
      name: "p",
      version: "1.1.0",
      classes: [{ key: "A", bindings: [{ name: "f", function: "y" }] }, { key: "B" }],
    }
    expect(diff(before, before)).toEqual([])
    expect(renderChanges(diff(before, after))).toBe([
      "~ version: \"1.0.0\" -> \"1.1.0\"",
      "~ classes[0].bindings[0].function: \"x\" -> \"y\"",
      "+ classes[1]: {\"key\":\"B\"}",
      "- metadata: {\"tags\":[\"a\"]}",
    ].join("\n"))
  })
})

describe("newLines", () => {
  test("only what follows the overlap with the previous tail", () => {
    expect(newLines(["a", "b", "c"], ["b", "c", "d", "e"])).toEqual(["d", "e"])
    expect(newLines(["a", "b"], ["a", "b"])).toEqual([])
    expect(newLines([], ["a"])).toEqual(["a"])
    // The tail moved past everything seen (e.g. a burst longer than the window): all of it is new.
    expect(newLines(["a", "b"], ["x", "y"])).toEqual(["x", "y"])
  })
})

describe("devArgs", () => {
  test("--apply takes files up to the next flag, --data-dir its value; the rest goes to the servers", () => {
    expect(devArgs(["--apply", "a.yaml", "b.yaml", "--pm-port", "9080", "--data-dir", "/d", "--apply=c.yaml"])).toEqual(
      {
        rest: ["--pm-port", "9080"],
        apply: ["a.yaml", "b.yaml", "c.yaml"],
        dataDir: "/d",
      },
    )
    expect(devArgs([]).dataDir).toBe(".oprc-dev")
  })
})

describe("table", () => {
  test("aligned columns under upper-case headers; a message when empty", () => {
    expect(table(["name", "phase"], [["a", "Running"], ["long-name", "Pending"]])).toBe(
      "NAME       PHASE\na          Running\nlong-name  Pending",
    )
    expect(table(["name"], [], "no items")).toBe("no items")
  })
})
