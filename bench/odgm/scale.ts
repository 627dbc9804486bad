// bench/odgm/scale.ts: ODGM at 10 k vs 1 M objects (issue 9), each figure once and short, because
// the machine is shared:
//  - LIST with an id prefix (100 matches in every size) and GET of random ids, SQLite, 10 k vs 1 M;
//  - GET p99 at 1 M while another client loops the heaviest listing (1,000 objects with entries);
//  - sync invoke of a stateful function with vs without an Idempotency-Key (the bookkeeping cost);
//  - the same LIST on NATS (one nats-server, R1) at 10 k objects, and the first listing there
//    (which builds the node's key index).
// The SQLite files are seeded directly with the engine's own row format (bulk insert: 1 M objects
// through the gateway would take minutes); NATS is seeded through the REST gateway.
// Usage: bun bench/odgm/scale.ts [seconds] [bigObjects]   (writes bench/odgm/SCALE.md)
import { Database } from "bun:sqlite"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { startNats } from "@oprc/test-harness"
import { partitionOf } from "../../services/odgm/src/domain/partition.ts"
import { toJson } from "../../services/odgm/src/storage/common.ts"
import { makeSqliteStore } from "../../services/odgm/src/storage/sqlite/SqliteStore.ts"
import { benchDir, ratioLine } from "../lib/report"
import { seedObjects, startFromSource } from "../lib/services"
import { cpuMs, fmt, freePort, meanWrk, parseWrk, runWrk, startBenchServer, wrkBin, type WrkResult } from "../lib/wrk"

const seconds = Number(process.argv[2] ?? 5)
const BIG = Number(process.argv[3] ?? 1_000_000)
const SMALL = 10_000
const here = new URL(".", import.meta.url).pathname
const tmp = benchDir("oprc-bench-odgm-scale-")
const CLS = "bench.Obj"
const PARTITIONS = 4
const idOf = (i: number) => `k${String(i).padStart(7, "0")}`

const fnPort = await freePort()
const fnUrl = `http://127.0.0.1:${fnPort}`
writeFileSync(
  join(tmp, "collections.json"),
  JSON.stringify({ collections: [{ name: CLS, partitionCount: PARTITIONS, functions: { touch: { url: fnUrl } } }] }),
)

/** A SQLite file with `n` objects, written in the engine's format (schema from the engine itself). */
const seed = async (path: string, n: number) => {
  const t0 = performance.now()
  await Effect.runPromise(Effect.scoped(makeSqliteStore({ path })))
  const db = new Database(path)
  db.run("PRAGMA journal_mode = WAL")
  db.run("PRAGMA synchronous = OFF")
  const insert = db.query("INSERT INTO objects (cls, partition, id, version, body) VALUES (?, ?, ?, 1, ?)")
  const now = Date.now()
  for (let start = 0; start < n; start += 100_000) {
    db.transaction(() => {
      for (let i = start; i < Math.min(n, start + 100_000); i++) {
        const id = idOf(i)
        const partition = partitionOf(id, PARTITIONS)
        const body = toJson({
          cls: CLS,
          partition,
          id,
          version: 1n,
          entries: { n: { _tag: "Json", value: i }, name: { _tag: "Json", value: "a benchmark object" } },
          triggers: [],
          createdAt: now,
          updatedAt: now,
        })
        insert.run(CLS, partition, id, JSON.stringify(body))
      }
    })()
  }
  db.close()
  console.log(`seeded ${n} objects in ${Math.round(performance.now() - t0)} ms`)
}

const spawnOdgm = (args: ReadonlyArray<string>) =>
  startFromSource("odgm", ["--collections", join(tmp, "collections.json"), ...args], { cwd: tmp })

const objects = `/api/class/${CLS}/-/objects`
const listPrefix = `${objects}?prefix=k00012&limit=100` // k0001200..k0001299 at every size
const heaviest = `${objects}?limit=1000&entries=true`
const randomGet = (n: number) =>
  `math.randomseed(os.time())
request = function()
  return wrk.format(nil, "${objects}/k" .. string.format("%07d", math.random(0, ${n - 1})))
end`
const invokeScript = (n: number, keyed: boolean) =>
  `math.randomseed(os.time())
counter = 0
nonce = tostring(math.random(100000, 999999))
request = function()
  counter = counter + 1
  local headers = { ["content-type"] = "application/json" }
  ${keyed ? `headers["idempotency-key"] = "b-" .. nonce .. "-" .. counter` : ""}
  return wrk.format("POST", "${objects}/k" .. string.format("%07d", math.random(0, ${
    n - 1
  })) .. "/invokes/touch", headers, "{}")
end`

const check = (what: string, r: WrkResult) => {
  if (r.errors > 0 || r.non2xx > 0) console.error(`  ! ${what}: ${r.non2xx} non-2xx, ${r.errors} socket errors`)
  console.log(`${what}: ${fmt(r)}`)
  return r
}

const smallPath = join(tmp, "small.sqlite")
const bigPath = join(tmp, "big.sqlite")
await seed(smallPath, SMALL)
await seed(bigPath, BIG)
const fn = await startBenchServer(`${here}noop-function.ts`, fnPort)
const small = await spawnOdgm(["--storage", "sqlite", "--sqlite", smallPath])
const big = await spawnOdgm(["--storage", "sqlite", "--sqlite", bigPath])
const nats = await startNats()
const natsOdgm = await spawnOdgm(["--storage", "nats", "--nats", nats.url])
const lines: string[] = []
try {
  // NATS: seed through the gateway, then time the first listing (it builds the key index).
  const entries = JSON.stringify({ entries: { n: 1, name: "a benchmark object" } })
  const t0 = performance.now()
  await seedObjects(natsOdgm.url, CLS, Array.from({ length: SMALL }, (_, i) => idOf(i)), entries, 64)
  const seeded = performance.now() - t0
  const t1 = performance.now()
  const first = await (await fetch(`${natsOdgm.url}${listPrefix}`)).json() as { objects: unknown[] }
  const firstList = performance.now() - t1
  console.log(
    `nats: seeded ${SMALL} in ${Math.round(seeded)} ms; first listing ${
      Math.round(firstList)
    } ms (${first.objects.length} objects)`,
  )

  // Warm up (JIT, pages) briefly.
  for (const u of [small.url, big.url, natsOdgm.url]) {
    runWrk({ url: `${u}${listPrefix}`, connections: 4, durationSec: 2 })
  }
  runWrk({ url: `${big.url}${objects}/k0000000`, connections: 16, durationSec: 2, script: randomGet(BIG) })

  // Each pair alternates (small, big, big, small) so drift of the shared machine hits both alike.
  const pair = (what: string, run: (big: boolean) => WrkResult) => {
    const a1 = check(`${what}, 10k`, run(false)),
      b1 = check(`${what}, ${BIG}`, run(true)),
      b2 = check(`${what}, ${BIG}`, run(true)),
      a2 = check(`${what}, 10k`, run(false))
    return [meanWrk(a1, a2), meanWrk(b1, b2)] as const
  }
  const [listSmall, listBig] = pair(
    "LIST prefix, sqlite",
    (isBig) => runWrk({ url: `${isBig ? big.url : small.url}${listPrefix}`, connections: 4, durationSec: seconds }),
  )
  const listNats = check(
    "LIST prefix, nats 10k",
    runWrk({ url: `${natsOdgm.url}${listPrefix}`, connections: 4, durationSec: seconds }),
  )
  const [getSmall, getBig] = pair(
    "GET random, sqlite",
    (isBig) =>
      runWrk({
        url: `${isBig ? big.url : small.url}${objects}/k0000000`,
        connections: 16,
        durationSec: seconds,
        script: randomGet(isBig ? BIG : SMALL),
      }),
  )

  // GET while one client (another wrk process: this one blocks while wrk runs) loops the heaviest listing.
  const lister = Bun.spawn([wrkBin, "-t1", "-c1", `-d${seconds}s`, "--latency", `${big.url}${heaviest}`], {
    stdout: "pipe",
    stderr: "ignore",
  })
  const getUnderList = check(
    `GET random, sqlite ${BIG}, while a client loops LIST limit=1000&entries=true`,
    runWrk({ url: `${big.url}${objects}/k0000000`, connections: 16, durationSec: seconds, script: randomGet(BIG) }),
  )
  const listing = parseWrk(await new Response(lister.stdout).text())
  await lister.exited
  const listRate = listing.requestsPerSec

  // Idempotency bookkeeping: the same invocations with and without a key, alternated; CPU per
  // request of ODGM (from /proc) is the figure least disturbed by the other load on the machine.
  const invoke = (keyed: boolean) => {
    const before = cpuMs(small.pid)
    const r = runWrk({
      url: `${small.url}${objects}/k0000000/invokes/touch`,
      connections: 16,
      durationSec: seconds,
      script: invokeScript(SMALL, keyed),
    })
    const cpu = ((cpuMs(small.pid) - before) * 1000) / (r.requestsPerSec * seconds)
    console.log(`  ODGM CPU ${Math.round(cpu)} µs/req`)
    return { ...r, cpu }
  }
  runWrk({
    url: `${small.url}${objects}/k0000000/invokes/touch`,
    connections: 16,
    durationSec: 2,
    script: invokeScript(SMALL, true),
  })
  // Three alternating pairs (ABBA-style): the median of each side.
  const plainRuns: Array<ReturnType<typeof invoke>> = []
  const keyedRuns: Array<ReturnType<typeof invoke>> = []
  for (let round = 0; round < 3; round++) {
    const order = round % 2 === 0 ? [false, true] : [true, false]
    for (const keyedRun of order) {
      ;(keyedRun ? keyedRuns : plainRuns).push(
        check(`invoke touch, ${keyedRun ? "Idempotency-Key" : "no key"}`, invoke(keyedRun)) as ReturnType<
          typeof invoke
        >,
      )
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const plain = median(plainRuns.map((r) => r.requestsPerSec))
  const keyed = median(keyedRuns.map((r) => r.requestsPerSec))
  const plainCpu = median(plainRuns.map((r) => r.cpu))
  const keyedCpu = median(keyedRuns.map((r) => r.cpu))
  const runs = (rs: Array<ReturnType<typeof invoke>>) =>
    rs.map((r) => `${Math.round(r.requestsPerSec)}/${Math.round(r.cpu)}`).join(", ")

  const ratio = (a: number, b: number) => (a / b).toFixed(2)
  lines.push(
    `| LIST \`?prefix=k00012&limit=100\` (100 matches), c4 | ${fmt(listSmall)} | ${fmt(listBig)} | p50 ${
      ratio(listBig.p50Ms, listSmall.p50Ms)
    }x, throughput 10 k / 1 M ${
      ratio(listSmall.requestsPerSec, listBig.requestsPerSec)
    } | within 1.5x | NATS R1, 10 k: ${fmt(listNats)} |`,
    `| GET random id, c16 | ${fmt(getSmall)} | ${fmt(getBig)} | p50 ${
      ratio(getBig.p50Ms, getSmall.p50Ms)
    }x, throughput 10 k / 1 M ${ratio(getSmall.requestsPerSec, getBig.requestsPerSec)} | within 1.2x | |`,
    `| GET random id, c16, while 1 client loops \`?limit=1000&entries=true\` (${listRate.toFixed(1)} lists/s, p50 ${
      listing.p50Ms.toFixed(1)
    } ms) | | ${fmt(getUnderList)} | p99 ${ratio(getUnderList.p99Ms, getBig.p99Ms)}x of the quiet GET at ${BIG} | | |`,
    `| sync invoke \`touch\` (stateful, random of 10 k objects), c16; medians of 3 runs (req/s / µs ODGM CPU per req each) | no key: ${
      Math.round(plain)
    } req/s, ODGM ${Math.round(plainCpu)} µs CPU/req (${runs(plainRuns)}) | Idempotency-Key: ${
      Math.round(keyed)
    } req/s, ODGM ${Math.round(keyedCpu)} µs CPU/req (${runs(keyedRuns)}) | throughput ${
      ((1 - keyed / plain) * 100).toFixed(1)
    } % lower, CPU/req ${((keyedCpu / plainCpu - 1) * 100).toFixed(1)} % higher | <= 10 % | |`,
  )
  const growthLine = (what: string, small: WrkResult, big: WrkResult) =>
    ratioLine(
      `odgm growth ${what}, 1 M vs 10 k, SQLite`,
      `${BIG}: ${fmt(big)}`,
      `10 k: ${fmt(small)}`,
      `p50 ${ratio(big.p50Ms, small.p50Ms)}x, throughput 10 k / big ${ratio(small.requestsPerSec, big.requestsPerSec)}`,
      "within 1.3x",
    )
  growthLine("LIST prefix (100 matches)", listSmall, listBig)
  growthLine("GET random id", getSmall, getBig)
  ratioLine(
    `odgm LIST prefix on NATS (10 k) vs SQLite (10 k)`,
    `NATS: ${fmt(listNats)}`,
    `SQLite: ${fmt(listSmall)}`,
    ratio(listNats.requestsPerSec, listSmall.requestsPerSec),
    "-",
  )
  writeFileSync(
    `${here}SCALE.md`,
    `# bench/odgm/scale.ts results

Run: ${new Date().toISOString()}, \`bun bench/odgm/scale.ts ${seconds} ${BIG}\`; load average at the end ${
      (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ")
    }.
ODGM from source, SQLite engine (files seeded directly in the engine's row format: ${SMALL} and ${BIG} objects of class
${CLS}, ${PARTITIONS} partitions, ids k0000000...), NATS engine on one nats-server 2.9 (R1, ${SMALL} objects seeded through
REST in ${Math.round(seeded)} ms; the first listing, which builds the node's key index, took ${
      Math.round(firstList)
    } ms).
wrk -t1, ${seconds} s per figure; SQLite pairs alternate 10 k / ${BIG} / ${BIG} / 10 k (means shown), once each, on a shared
2-core machine (other engineers' tests running): compare ratios, not absolute numbers.

| measurement | 10 k objects (SQLite) | ${BIG} objects (SQLite) | ratio | aim | beside |
|---|---|---|---|---|---|
${lines.join("\n")}
`,
  )
  console.log(lines.join("\n"))
} finally {
  await Promise.allSettled([small.stop(), big.stop(), natsOdgm.stop(), fn.stop()])
  await nats.stop()
}
