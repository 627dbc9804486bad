import { expect, test } from "bun:test"
import { Effect, Exit } from "effect"
import { ConfigLoadError } from "@oprc/config"
import { exitCodeOf } from "../src/index.ts"

// What an orchestrator reads: a stop by signal is not a crash, a bad config is told apart from a failure.
test("exit codes: clean end and stop by signal 0, bad config 2, any other failure 1", async () => {
  expect(exitCodeOf(Exit.succeed(undefined))).toBe(0)
  const interrupted = await Effect.runPromise(Effect.exit(Effect.interrupt))
  expect(exitCodeOf(interrupted)).toBe(0)
  expect(exitCodeOf(Exit.fail(new ConfigLoadError({ issues: [] })))).toBe(2)
  expect(exitCodeOf(Exit.fail(new Error("port in use")))).toBe(1)
  expect(exitCodeOf(Exit.die("boom"))).toBe(1)
})
