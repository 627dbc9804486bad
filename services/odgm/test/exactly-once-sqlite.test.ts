import { afterAll, beforeAll, expect, test } from "bun:test"
import { join } from "node:path"
import { binaryDir, freePort, makeTempDir } from "@oprc/test-harness"
import { checkExactlyOnce, fastRecovery, prepareObjects, runLoad, writeCollections } from "./support/exactly-once.ts"
import { type FunctionProcess, probeEntry, spawnBinary, sqliteArgs, startFunction } from "./support/odgm.ts"

// Acceptance (issue 9): the compiled oprc-odgm on SQLite, SIGKILLed three times under a load of
// sync increments with idempotency keys, async increments and the trigger deliveries they fire,
// clients retrying unknown outcomes with the same ids: zero lost, duplicated or orphaned.

let fn: FunctionProcess
let bin: string
let dir: string

beforeAll(async () => {
  dir = makeTempDir("odgm-exactly-once-sqlite")
  bin = join(await binaryDir(), "oprc-odgm")
  fn = await startFunction(probeEntry)
}, 60_000)
afterAll(() => fn?.stop())

test("sqlite: SIGKILL x3 mid-load; every acknowledged id applied exactly once", async () => {
  const port = await freePort()
  const args = sqliteArgs(join(dir, "odgm.sqlite"), writeCollections(dir, fn.url))
  let node = await spawnBinary(bin, port, args, { env: fastRecovery })
  await prepareObjects(node.url)
  let stopping = false
  const load = runLoad(() => [node.url], 8, () => stopping)
  const recoveries: number[] = []
  for (let kill = 0; kill < 3; kill++) {
    await Bun.sleep(1200)
    await node.proc.kill9()
    const t0 = Date.now()
    node = await spawnBinary(bin, port, args, { env: fastRecovery })
    recoveries.push(Date.now() - t0)
  }
  await Bun.sleep(800)
  stopping = true
  const report = await load
  try {
    const applied = await checkExactlyOnce(node.url, report)
    console.log(
      `sqlite: ${applied} increments acknowledged over ${report.calls} calls (${report.unknown} unknown outcomes retried), 3 kills, restart to ready ${
        recoveries.join("/")
      } ms`,
    )
    expect(report.unknown).toBeGreaterThan(0) // the kills did cut calls off
    expect(applied).toBeGreaterThan(50)
  } finally {
    await node.proc.stop(5000)
  }
}, 90_000)
