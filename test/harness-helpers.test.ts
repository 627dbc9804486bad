// The harness's own helpers (ports, processes, waits) and the test runner's summary parser,
// with real sockets and real child processes.
import { afterAll, describe, expect, test } from "bun:test"
import { createServer } from "node:net"
import { existsSync } from "node:fs"
import {
  freePorts,
  isPidAlive,
  isPortFree,
  makeTempDir,
  removeTempDir,
  retryOnPortClash,
  spawnServer,
  waitFor,
  waitForHttp,
  waitForPortFree,
} from "./harness/index.ts"
import { parseBunSummary } from "../scripts/test.ts"

describe("ports", () => {
  test("freePorts gives distinct bindable ports", async () => {
    const ports = await freePorts(8)
    expect(new Set(ports).size).toBe(8)
    for (const p of ports) expect(await isPortFree(p)).toBe(true)
  })

  test("waitForPortFree waits for a listener to go away and times out while it stays", async () => {
    const [port] = (await freePorts(1)) as [number]
    const srv = createServer()
    await new Promise<void>((r) => srv.listen(port, "127.0.0.1", r))
    expect(await isPortFree(port)).toBe(false)
    await expect(waitForPortFree(port, 100)).rejects.toThrow(/still in use/)
    setTimeout(() => srv.close(), 50)
    await waitForPortFree(port, 2000)
    expect(await isPortFree(port)).toBe(true)
  })
})

// A tiny HTTP server in a child bun process, optionally ignoring SIGTERM. Its log lives in a
// dir of ours so it can be read after stop().
const logDir = makeTempDir("helpers-log")
afterAll(() => removeTempDir(logDir))
const child = (port: number, ignoreTerm: boolean) =>
  spawnServer({
    name: "child",
    ports: [port],
    logFile: `${logDir}/child-${port}.log`,
    cmd: [
      process.execPath,
      "-e",
      `
      ${ignoreTerm ? "process.on(\"SIGTERM\", () => console.log(\"ignoring SIGTERM\"))" : ""}
      Bun.serve({ hostname: "127.0.0.1", port: ${port}, fetch: () => new Response("up") })
      console.log("listening")`,
    ],
  })

describe("processes", () => {
  test("stop() ends a server with SIGTERM and frees its port", async () => {
    const [port] = (await freePorts(1)) as [number]
    const sp = child(port, false)
    await waitForHttp(`http://127.0.0.1:${port}/`, (s, body) => s === 200 && body === "up", 10_000)
    expect(sp.logTail()).toContain("listening")
    await sp.stop()
    expect(await sp.exited).toBeNull() // killed by the signal
    expect(isPidAlive(sp.pid)).toBe(false)
    expect(await isPortFree(port)).toBe(true)
    await sp.stop() // idempotent
  })

  test("stop() falls back to SIGKILL when SIGTERM is ignored", async () => {
    const [port] = (await freePorts(1)) as [number]
    const sp = child(port, true)
    await waitForHttp(`http://127.0.0.1:${port}/`, (s) => s === 200, 10_000)
    const t0 = performance.now()
    await sp.stop(300)
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290)
    expect(sp.logTail()).toContain("ignoring SIGTERM")
    expect(isPidAlive(sp.pid)).toBe(false)
    expect(await isPortFree(port)).toBe(true)
  })

  test("a wait fails fast when the server dies, with its log", async () => {
    const sp = spawnServer({
      name: "dies",
      cmd: [process.execPath, "-e", "console.error(\"bad flag\"); process.exit(3)"],
    })
    await expect(
      waitFor("never ready", async () => undefined, {
        timeoutMs: 10_000,
        abortIf: () => (sp.alive() ? undefined : sp.logTail()),
      }),
    ).rejects.toThrow(/bad flag/)
    expect(await sp.exited).toBe(3)
    await sp.kill9()
  })

  test("retryOnPortClash retries only port clashes", async () => {
    let calls = 0
    expect(
      await retryOnPortClash(
        async () => (++calls < 3 ? Promise.reject(new Error("bind: address already in use")) : calls),
      ),
    ).toBe(3)
    calls = 0
    await expect(retryOnPortClash(async () => (++calls, Promise.reject(new Error("other"))))).rejects.toThrow("other")
    expect(calls).toBe(1)
  })

  test("temp dirs are removed", () => {
    const dir = makeTempDir("unit")
    expect(existsSync(dir)).toBe(true)
    removeTempDir(dir)
    expect(existsSync(dir)).toBe(false)
  })
})

describe("bun test summary parsing", () => {
  const summary = (pass: number, fail: number, extra = "") =>
    `(pass) a [1ms]\n\n ${pass} pass\n 1 skip\n ${fail} fail\n${extra} 4 expect() calls\nRan 6 tests across 2 files. [7.00ms]\n`

  test("reads the last pass/fail lines", () => {
    expect(parseBunSummary(summary(3, 1), 1, false)).toEqual({ pass: 3, fail: 1 })
    expect(parseBunSummary(summary(1, 0) + summary(12, 0), 0, false)).toEqual({ pass: 12, fail: 0 })
    expect(parseBunSummary(`\x1b[32m ${5} pass\x1b[0m\n 0 fail\n`, 0, false)).toEqual({ pass: 5, fail: 0 })
  })

  test("errors between tests, crashes and timeouts count as failures", () => {
    expect(parseBunSummary(summary(1, 1, " 1 error\n"), 1, false)).toEqual({ pass: 1, fail: 2 })
    expect(parseBunSummary("No tests found!\n", 1, false)).toEqual({ pass: 0, fail: 1 })
    expect(parseBunSummary("(pass) a\n", null, true)).toEqual({ pass: 0, fail: 1 })
    expect(parseBunSummary(summary(2, 0), 134, false)).toEqual({ pass: 2, fail: 1 })
  })
})
