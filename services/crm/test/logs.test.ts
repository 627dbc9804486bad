import { afterAll, describe, expect, test } from "bun:test"
import { appendFileSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { makeTempDir, removeTempDir } from "@oprc/test-harness"
import { lastLine, logFile, openLog, rotateIfLarge, tail } from "../src/driver/process/logs"
import { resolveCommand } from "../src/driver/process/Processes"
import { repoRoot } from "./support"

const dir = makeTempDir("crm-logs")
afterAll(() => removeTempDir(dir))

describe("replica log files", () => {
  test("rotation keeps logFiles old files, and a writer with O_APPEND keeps writing to the fresh file", () => {
    const file = logFile(dir, "u-local", "Counter.fn", 0, "stdout")
    const fd = openLog(file)
    const line = `${"x".repeat(99)}\n`
    for (let i = 0; i < 30; i++) appendFileSync(fd, line)
    expect(rotateIfLarge(file, 1024, 2)).toBe(true)
    expect(statSync(file).size).toBe(0)
    expect(statSync(`${file}.1`).size).toBe(3000)
    appendFileSync(fd, "after rotation\n")
    expect(readFileSync(file, "utf8")).toBe("after rotation\n")
    for (let i = 0; i < 20; i++) appendFileSync(fd, line)
    expect(rotateIfLarge(file, 1024, 2)).toBe(true)
    expect(readFileSync(`${file}.1`, "utf8").startsWith("after rotation\n")).toBe(true)
    expect(statSync(`${file}.2`).size).toBe(3000)
    for (let i = 0; i < 20; i++) appendFileSync(fd, line)
    rotateIfLarge(file, 1024, 2)
    // Only two old files are kept.
    expect(existsSync(`${file}.3`)).toBe(false)
    expect(rotateIfLarge(file, 1024, 2)).toBe(false)
  })

  test("tail returns the last lines (bounded read) and lastLine the last non-empty one, shortened", () => {
    const file = join(dir, "t.log")
    writeFileSync(file, Array.from({ length: 5000 }, (_, i) => `line ${i}`).join("\n") + "\n\n")
    expect(tail(file, 3)).toEqual(["line 4998", "line 4999", ""])
    expect(lastLine(file)).toBe("line 4999")
    writeFileSync(file, `${"e".repeat(1000)}\n`)
    expect(lastLine(file).length).toBe(301)
    expect(tail(join(dir, "missing.log"), 5)).toEqual([])
  })
})

describe("command lookup", () => {
  test("a bare name is found on PATH, then in <workDir>/node_modules/.bin; a path is relative to the working dir", () => {
    expect(resolveCommand("sh", repoRoot, "/usr/bin:/bin")).toMatch(/\/sh$/)
    expect(resolveCommand("bun", repoRoot, "/nonexistent")).toBe(join(repoRoot, "node_modules/.bin/bun"))
    expect(resolveCommand("no-such-command-oprc", repoRoot, "/usr/bin:/bin")).toBeUndefined()
    expect(resolveCommand("./node_modules/.bin/bun", repoRoot, "")).toBe(join(repoRoot, "node_modules/.bin/bun"))
    expect(resolveCommand("examples/counter/src/main.ts", repoRoot, "")).toBeUndefined()
  })
})
