import { expect, test } from "bun:test"
import { makeHeavyLane } from "../src/server/heavyLane"

/** What the caller answers when the lane refuses (503). */
const busy = () => "busy"
const lane = () => makeHeavyLane({ thresholdBytes: 100, maxWaitingBytes: 1000 })
const busyFor = (ms: number, log: Array<string>, name: string) => async () => {
  log.push(`${name} start`)
  const until = performance.now() + ms
  while (performance.now() < until) { /* CPU work, like decoding a body */ }
  await Promise.resolve()
  log.push(`${name} end`)
  return name
}

test("large bodies run one at a time, in arrival order; small ones do not wait", async () => {
  const l = lane()
  const log: Array<string> = []
  const done = await Promise.all([
    l.run(500, busyFor(5, log, "a"), busy),
    l.run(500, busyFor(5, log, "b"), busy),
    l.run(10, busyFor(1, log, "small"), busy),
    l.run(500, busyFor(5, log, "c"), busy),
  ])
  expect(done).toEqual(["a", "b", "small", "c"])
  // No two large ones overlap; the small one ran without waiting for the lane.
  const large = log.filter((e) => !e.startsWith("small"))
  expect(large).toEqual(["a start", "a end", "b start", "b end", "c start", "c end"])
  expect(log.indexOf("small start")).toBeLessThan(log.indexOf("b start"))
})

test("a timer due while large requests queue runs between them (a health probe is answered)", async () => {
  const l = lane()
  const log: Array<string> = []
  const work = [
    l.run(500, busyFor(30, log, "a"), busy),
    l.run(500, busyFor(30, log, "b"), busy),
    l.run(500, busyFor(30, log, "c"), busy),
  ]
  const probe = new Promise<void>((resolve) => setTimeout(() => (log.push("probe"), resolve()), 0))
  await Promise.all([...work, probe])
  // Without the lane's turn of the event loop between holders the probe came after all three.
  expect(log.indexOf("probe")).toBeLessThan(log.indexOf("c start"))
})

test("beyond the waiting budget a large request is refused at once, and the lane recovers", async () => {
  const l = makeHeavyLane({ thresholdBytes: 100, maxWaitingBytes: 800 })
  const log: Array<string> = []
  const first = l.run(500, busyFor(10, log, "a"), busy)
  const second = l.run(500, busyFor(1, log, "b"), busy)
  expect(l.waiting()).toEqual({ requests: 1, bytes: 500 })
  expect(await l.run(500, busyFor(1, log, "refused"), busy)).toBe("busy")
  expect(await first).toBe("a")
  expect(await second).toBe("b")
  expect(l.waiting()).toEqual({ requests: 0, bytes: 0 })
  expect(await l.run(500, busyFor(1, log, "later"), busy)).toBe("later")
  expect(log).not.toContain("refused start")
})

test("a failing holder releases the lane", async () => {
  const l = lane()
  const failing = l.run(500, () => Promise.reject(new Error("bad body")), busy)
  const next = l.run(500, async () => "next", busy)
  await expect(failing).rejects.toThrow("bad body")
  expect(await next).toBe("next")
})
