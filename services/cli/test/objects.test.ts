import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { buildCli, type Cli, cliRunner, type Stack, startStack } from "./support"

// Objects, invocations and dead letters through the compiled binary, against real servers.
let stack: Stack
let cli: Cli

beforeAll(async () => {
  const [binary, started] = await Promise.all([buildCli(), startStack()])
  stack = started
  cli = cliRunner(binary, { OPRC_PM_URL: stack.pmUrl, OPRC_ODGM_URL: stack.odgmUrl })
}, 180_000)

afterAll(async () => {
  await stack?.stop()
})

describe("objects and invocations", () => {
  test("put, get, merge, list, delete; invoke increments the state; stale versions are refused", async () => {
    const put = await cli.run(["obj", "put", "counter.Counter", "cli-1", "--set", "count=10", "-o", "json"])
    expect(put.code).toBe(0)
    expect(put.json()).toMatchObject({ id: "cli-1", version: "1", entries: { count: 10 } })
    const out = await cli.run([
      "invoke",
      "counter.Counter",
      "increment",
      "--object",
      "cli-1",
      "--payload",
      "{\"by\": 5}",
      "-o",
      "json",
    ])
    expect(out.code).toBe(0)
    expect(out.json()).toEqual({ count: 15 })
    const viaStdin = await cli.run([
      "invoke",
      "counter.Counter",
      "increment",
      "--object",
      "cli-1",
      "--payload",
      "-",
      "-o",
      "json",
    ], { stdin: "{\"by\": 2}" })
    expect(viaStdin.json()).toEqual({ count: 17 })
    const got = (await cli.run(["obj", "get", "counter.Counter", "cli-1", "-o", "json"])).json()
    expect(got).toMatchObject({ version: "3", entries: { count: 17 } })
    const merged = await cli.run([
      "obj",
      "merge",
      "counter.Counter",
      "cli-1",
      "--set",
      "note=hi",
      "--if-version",
      "3",
      "-o",
      "json",
    ])
    expect(merged.json().entries).toEqual({ count: 17, note: "hi" })
    const stale = await cli.run(["obj", "put", "counter.Counter", "cli-1", "--set", "count=0", "--if-version", "1"])
    expect(stale.code).toBe(1)
    expect(stale.stderr.trim()).toMatch(/^error: ODGM: .*\(aborted, HTTP 409\)$/)
    const list = (await cli.run(["obj", "list", "counter.Counter", "--prefix", "cli-", "-o", "json"])).json()
    expect(list.items.map((o: any) => o.id)).toEqual(["cli-1"])
    const table = (await cli.run(["obj", "get", "counter.Counter", "cli-1"])).stdout
    expect(table).toMatch(/^count\s+17$/m)
    expect((await cli.run(["obj", "delete", "counter.Counter", "cli-1"])).code).toBe(0)
    const missing = await cli.run(["obj", "get", "counter.Counter", "cli-1"])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain("not_found, HTTP 404")
    const internal = await cli.run(["invoke", "counter.Counter", "reset", "--object", "cli-2"])
    expect(internal.code).toBe(1)
    expect(internal.stderr).toContain("permission_denied, HTTP 403")
  }, 90_000)

  test(
    "stateless invocations: payload as JSON, from a file, from stdin; an invalid payload exits 1 with the function's reason",
    async () => {
      const hello = await cli.run([
        "invoke",
        "greeter.Greeter",
        "hello",
        "--payload",
        "{\"name\": \"ada\"}",
        "-o",
        "json",
      ])
      expect(hello.code).toBe(0)
      expect(hello.json()).toEqual({ greeting: "Hello, ada!" })
      const file = `${cli.home}/payload.json`
      await Bun.write(file, "{\"name\": \"grace\", \"language\": \"fr\"}")
      expect((await cli.run(["invoke", "greeter.Greeter", "hello", "--payload", `@${file}`, "-o", "json"])).json())
        .toEqual({ greeting: "Bonjour, grace!" })
      expect(
        (await cli.run(["invoke", "greeter.Greeter", "wordCount", "--payload", "-", "-o", "yaml"], {
          stdin: "{\"text\": \"one two three\"}",
        })).stdout.trim(),
      ).toBe("words: 3")
      const blank = await cli.run(["invoke", "greeter.Greeter", "hello", "--payload", "{\"name\": \" \"}"])
      expect(blank.code).toBe(1)
      expect(blank.stderr.trim()).toMatch(/^error: ODGM: .*name must not be blank.*\(invalid_argument, HTTP 400\)$/)
      const missing = await cli.run(["invoke", "greeter.Greeter", "hello", "--payload", "@/nonexistent.json"])
      expect(missing.code).toBe(2)
    },
    60_000,
  )

  test("invoke --async with an idempotency key, result --wait; a repeated key is applied once", async () => {
    const first = await cli.run([
      "invoke",
      "counter.Counter",
      "increment",
      "--object",
      "cli-async",
      "--async",
      "--idempotency-key",
      "cli-key-1",
      "-o",
      "json",
    ])
    expect(first.code).toBe(0)
    expect(first.json()).toEqual({ invocationId: "cli-key-1" })
    const result = await cli.run(["result", "cli-key-1", "--wait", "-o", "json"])
    expect(result.code).toBe(0)
    expect(result.json()).toMatchObject({
      invocationId: "cli-key-1",
      state: "DONE",
      status: "OK",
      output: { count: 1 },
    })
    await cli.run([
      "invoke",
      "counter.Counter",
      "increment",
      "--object",
      "cli-async",
      "--async",
      "--idempotency-key",
      "cli-key-1",
    ])
    expect((await cli.run(["result", "cli-key-1", "--wait"])).stdout.trim()).toBe("OK {\"count\":1}")
    expect((await cli.run(["obj", "get", "counter.Counter", "cli-async", "-o", "json"])).json().entries.count).toBe(1)
    const unknown = await cli.run(["result", "no-such-invocation"])
    expect(unknown.code).toBe(1)
  }, 60_000)

  test("a trigger that cannot be delivered becomes a dead letter: list, redrive, delete", async () => {
    // ODGM runs with one delivery attempt; the target function does not exist.
    const trigger = JSON.stringify({
      entries: { count: 1 },
      triggers: [{ event: "DATA_UPDATE", source: "count", target: { function: "nope" } }],
    })
    const put = await fetch(`${stack.odgmUrl}/api/class/counter.Counter/-/objects/dl-1`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: trigger,
    })
    expect(put.status).toBeLessThan(300)
    expect((await cli.run(["invoke", "counter.Counter", "increment", "--object", "dl-1"])).code).toBe(0)
    let items: Array<any> = []
    for (let i = 0; i < 100 && items.length === 0; i++) {
      items = (await cli.run(["dead-letters", "list", "-o", "json"])).json().items
      if (items.length === 0) await Bun.sleep(200)
    }
    expect(items).toHaveLength(1)
    const id = items[0].id as string
    expect((await cli.run(["dead-letters", "list"])).stdout).toContain(id)
    expect((await cli.run(["dead-letters", "redrive", id])).code).toBe(0)
    // Redriven, it fails again (still no such function) and comes back.
    let back = false
    for (let i = 0; i < 100 && !back; i++) {
      back = (await cli.run(["dead-letters", "list", "-o", "json"])).json().items.some((d: any) => d.id === id)
      if (!back) await Bun.sleep(200)
    }
    expect(back).toBe(true)
    expect((await cli.run(["dead-letters", "delete", id])).code).toBe(0)
    expect((await cli.run(["dead-letters", "list", "-o", "json"])).json().items).toEqual([])
    expect((await cli.run(["dead-letters", "delete", id])).code).toBe(1)
  }, 90_000)
})
