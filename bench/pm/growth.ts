// bench/pm/growth.ts: PM reads as the catalog grows, 10 vs BIG packages (default 10,000), on SQLite
// and on etcd (single node), in one run: GetPackage of a random name, ListPackages' first page
// and the class catalog's first page (ListClasses; limit 10 each), Connect JSON, wrk -c16. The first 10 packages are created through the REST API; the
// rest are copies of their stored documents (renamed, classes' self-references too) written
// straight into the store while the PM is stopped: 10,000 validated creates would take minutes on
// this shared machine, and reads do not depend on how a document got there. The PM then starts
// on the filled store (its start-up to ready is reported too); both sizes run at once and are
// measured alternately (10, big, big, 10), after every package has been read once (readAll).
// Baseline in the same run: a bare Bun.serve holding the PM's own GetPackage answers for 10 and
// for BIG names (server-bare-many.ts), read the same way: the growth the memory hierarchy alone
// costs, when 10,000 answers of 4 KB no longer fit the CPU caches.
// Usage: bun bench/pm/growth.ts [seconds] [big=10000]
import { Database } from "bun:sqlite"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Etcd3 } from "etcd3"
import { startEtcd } from "@oprc/test-harness"
import { benchDir, ratioLine, secondsArg } from "../lib/report"
import { startFromSource } from "../lib/services"
import { shopPackage } from "../lib/shop"
import { cpuMs, fmt, freePort, meanWithCpu, runWrk, startBenchServer, type WrkResult } from "../lib/wrk"

const seconds = secondsArg(process.argv)
const BIG = Number(process.argv.slice(2).filter((a) => /^\d+$/.test(a))[1] ?? 10_000)
const tmp = benchDir("oprc-bench-pm-growth-")
const here = new URL(".", import.meta.url).pathname
const nameOf = (i: number) => `g-${String(i).padStart(5, "0")}`
const json = { "content-type": "application/json" }

/** The PM from source on `args`, with the time from spawn to its first ready answer. */
const startPm = async (args: ReadonlyArray<string>) => {
  const t0 = performance.now()
  const pm = await startFromSource("pm", args, { cwd: tmp })
  return { base: pm.url, pid: pm.pid, readyMs: performance.now() - t0, stop: pm.stop }
}

const createTen = async (base: string) => {
  for (let i = 0; i < 10; i++) {
    const r = await fetch(`${base}/api/v1/packages`, {
      method: "POST",
      headers: json,
      body: JSON.stringify(shopPackage(nameOf(i))),
    })
    if (r.status !== 201) throw new Error(`create ${nameOf(i)}: ${r.status} ${await r.text()}`)
  }
}
/** The stored document of package j (0..9) as package i: its name and self-references renamed. */
const renamed = (value: string, i: number) => value.replaceAll(nameOf(i % 10), nameOf(i))

/**
 * Reads every package once (16 in flight) and returns the rate: the first read of a revision
 * decodes it (JSON + Schema, ~0.3-1 ms), later reads are served from the store's per-revision
 * memo. Without this pass a 2 s random-GET run over 10,000 names measures mostly first reads.
 */
const readAll = async (base: string, n: number, answers: Record<string, string>) => {
  const t0 = performance.now()
  for (let i = 0; i < n; i += 16) {
    await Promise.all(
      Array.from({ length: Math.min(16, n - i) }, (_, j) =>
        fetch(`${base}/oprc.pm.v1.PackageService/GetPackage`, {
          method: "POST",
          headers: json,
          body: JSON.stringify({ name: nameOf(i + j) }),
        }).then(async (r) => {
          const text = await r.text()
          if (r.status !== 200) throw new Error(`first read ${nameOf(i + j)}: ${r.status} ${text}`)
          answers[nameOf(i + j)] = text
        })),
    )
  }
  return n / ((performance.now() - t0) / 1000)
}

/** Resident memory of a process, MiB (what the per-revision memo and answers cost as the catalog grows). */
const rssMiB = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024

type Measured = WrkResult & { readonly cpuUsPerRequest: number }
const withCpu = (pid: number, d: number, run: () => WrkResult): Measured => {
  const before = cpuMs(pid)
  const r = run()
  return { ...r, cpuUsPerRequest: ((cpuMs(pid) - before) * 1000) / (r.requestsPerSec * d) }
}

/** GetPackage of a random one of the first `n` names, Connect JSON, wrk -c16. */
const randomGet = (url: string, pid: number, n: number, d: number) =>
  withCpu(pid, d, () =>
    runWrk({
      url,
      connections: 16,
      durationSec: d,
      method: "POST",
      headers: json,
      script:
        `math.randomseed(os.time())\nrequest = function()\n  return wrk.format("POST", nil, nil, '{"name":"g-' .. string.format("%05d", math.random(0, ${
          n - 1
        })) .. '"}')\nend`,
    }))

const check = (what: string, r: Measured) => {
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${what}: ${r.non2xx} non-2xx, ${r.errors} errors`)
  return r
}

const measure = (base: string, pid: number, n: number) => {
  const rpc = (m: string) => `${base}/oprc.pm.v1.PackageService/${m}`
  const get = (d: number) => randomGet(rpc("GetPackage"), pid, n, d)
  const list = (d: number) =>
    withCpu(pid, d, () =>
      runWrk({
        url: rpc("ListPackages"),
        connections: 16,
        durationSec: d,
        method: "POST",
        headers: json,
        body: JSON.stringify({ limit: 10 }),
      }))
  const classes = (d: number) =>
    withCpu(pid, d, () =>
      runWrk({
        url: `${base}/oprc.pm.v1.CatalogService/ListClasses`,
        connections: 16,
        durationSec: d,
        method: "POST",
        headers: json,
        body: JSON.stringify({ limit: 10 }),
      }))
  get(1), list(1), classes(1) // warm-up
  return {
    get: check("GetPackage", get(seconds)),
    list: check("ListPackages", list(seconds)),
    classes: check("ListClasses", classes(seconds)),
  }
}

type Figures = ReturnType<typeof measure> & { readyMs: number; firstReadsPerSec: number; rssMiB: number }
const results: Record<string, Record<number, Figures>> = { sqlite: {}, etcd: {} }
/** Every GetPackage answer (of the big PM), by name, as read once: the bare baseline serves these. */
const answers: Record<"sqlite" | "etcd", Record<string, string>> = { sqlite: {}, etcd: {} }

const mean = (a: Measured, b: Measured): Measured => meanWithCpu([a, b])
/** Both sizes served at once, measured small, big, big, small so drift of the shared machine hits both alike. */
const alternate = async (storage: "sqlite" | "etcd", argsOf: (n: number) => ReadonlyArray<string>) => {
  const small = await startPm(argsOf(10))
  const big = await startPm(argsOf(BIG))
  try {
    const firstSmall = await readAll(small.base, 10, answers[storage]),
      firstBig = await readAll(big.base, BIG, answers[storage])
    const s1 = measure(small.base, small.pid, 10),
      b1 = measure(big.base, big.pid, BIG),
      b2 = measure(big.base, big.pid, BIG),
      s2 = measure(small.base, small.pid, 10)
    results[storage]![10] = {
      get: mean(s1.get, s2.get),
      list: mean(s1.list, s2.list),
      classes: mean(s1.classes, s2.classes),
      readyMs: small.readyMs,
      firstReadsPerSec: firstSmall,
      rssMiB: rssMiB(small.pid),
    }
    results[storage]![BIG] = {
      get: mean(b1.get, b2.get),
      list: mean(b1.list, b2.list),
      classes: mean(b1.classes, b2.classes),
      readyMs: big.readyMs,
      firstReadsPerSec: firstBig,
      rssMiB: rssMiB(big.pid),
    }
  } finally {
    await Promise.all([small.stop(), big.stop()])
  }
}

// SQLite: one file per size.
const sqliteArgs = (n: number) => ["--storage", "sqlite", "--sqlite-path", join(tmp, `pm-${n}.sqlite`)]
for (const n of [10, BIG]) {
  const path = join(tmp, `pm-${n}.sqlite`)
  const pm = await startPm(sqliteArgs(n))
  await createTen(pm.base)
  await pm.stop()
  if (n > 10) {
    const db = new Database(path)
    const rows = db.query<{ kind: string; key: string; value: string }, []>(
      "SELECT kind, key, value FROM documents WHERE key LIKE 'g-0000_'",
    ).all()
    const base = db.query<{ value: number }, []>("SELECT value FROM meta WHERE name = 'revision'").get()!.value
    const insert = db.query(
      "INSERT INTO documents (kind, key, value, revision, create_revision) VALUES (?, ?, ?, ?, ?)",
    )
    db.transaction(() => {
      for (let i = 10; i < n; i++) {
        const row = rows.find((r) => r.key === nameOf(i % 10))!
        insert.run(row.kind, nameOf(i), renamed(row.value, i), base + i, base + i)
      }
      db.run("UPDATE meta SET value = ? WHERE name = 'revision'", [base + n])
    })()
    db.close()
  }
}
await alternate("sqlite", sqliteArgs)

/**
 * The same random GETs against a bare Bun.serve holding the PM's own answers (10, and BIG), also
 * alternated: what the growth costs a server that does nothing else (its answers, 4 KB each, no
 * longer fit the CPU caches at 10,000), to read the PM's growth against.
 */
const bareGrowth = async (all: Record<string, string>) => {
  const start = async (n: number) => {
    const file = join(tmp, `answers-${n}.json`)
    writeFileSync(
      file,
      JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [nameOf(i), all[nameOf(i)]!]))),
    )
    const port = await freePort()
    return {
      url: `http://127.0.0.1:${port}/`,
      ...(await startBenchServer(`${here}server-bare-many.ts`, port, { ANSWERS_FILE: file })),
    }
  }
  const small = await start(10), big = await start(BIG)
  try {
    const get = (s: typeof small, n: number, d: number) => check("bare GetPackage", randomGet(s.url, s.pid, n, d))
    get(small, 10, 1), get(big, BIG, 1) // warm-up
    const s1 = get(small, 10, seconds),
      b1 = get(big, BIG, seconds),
      b2 = get(big, BIG, seconds),
      s2 = get(small, 10, seconds)
    return { small: mean(s1, s2), big: mean(b1, b2) }
  } finally {
    await Promise.all([small.stop(), big.stop()])
  }
}
const bare = await bareGrowth(answers.sqlite)

// etcd: one prefix per size on one etcd.
const etcd = await startEtcd()
try {
  const client = new Etcd3({ hosts: etcd.endpoints })
  const etcdArgs = (
    n: number,
  ) => ["--storage", "etcd", "--etcd-endpoints", etcd.endpoints.join(","), "--etcd-prefix", `/bench-growth-${n}`]
  for (const n of [10, BIG]) {
    const prefix = `/bench-growth-${n}`
    const pm = await startPm(etcdArgs(n))
    await createTen(pm.base)
    await pm.stop()
    if (n > 10) {
      const stored = await client.getAll().prefix(`${prefix}/`).strings()
      const source = new Map(
        Object.entries(stored).filter(([k]) => /\/g-0000\d$/.test(k)).map((
          [k, v],
        ) => [k.slice(-7), { key: k, value: v }]),
      )
      for (let i = 10; i < n; i += 100) {
        await Promise.all(Array.from({ length: Math.min(100, n - i) }, (_, j) => {
          const doc = source.get(nameOf((i + j) % 10))!
          return client.put(doc.key.replace(/g-\d{5}$/, nameOf(i + j))).value(renamed(doc.value, i + j))
        }))
      }
    }
  }
  client.close()
  await alternate("etcd", etcdArgs)
} finally {
  await etcd.kill()
}

/** "p50 ..x, throughput 10 / big .., CPU/req big / 10 .." */
const growth = (big: Measured, small: Measured) =>
  `p50 ${(big.p50Ms / small.p50Ms).toFixed(2)}x, throughput 10 / big ${
    (small.requestsPerSec / big.requestsPerSec).toFixed(2)
  }, CPU/req big / 10 ${(big.cpuUsPerRequest / small.cpuUsPerRequest).toFixed(2)}`
ratioLine(
  `pm growth baseline: bare Bun.serve with the PM's GetPackage answers (random name), ${BIG} vs 10`,
  `${BIG}: ${fmt(bare.big)}, ${bare.big.cpuUsPerRequest.toFixed(0)} µs CPU/req`,
  `10: ${fmt(bare.small)}, ${bare.small.cpuUsPerRequest.toFixed(0)} µs CPU/req`,
  growth(bare.big, bare.small),
  "- (what the growth costs a server doing nothing else)",
)
for (const storage of ["sqlite", "etcd"] as const) {
  const small = results[storage]![10]!, big = results[storage]![BIG]!
  const names = {
    get: "GetPackage (random name)",
    list: "ListPackages first page",
    classes: "ListClasses (the class catalog) first page",
  }
  for (const what of ["get", "list", "classes"] as const) {
    ratioLine(
      `pm growth ${names[what]}, ${BIG} vs 10 packages, ${storage}`,
      `${BIG}: ${fmt(big[what])}, ${big[what].cpuUsPerRequest.toFixed(0)} µs CPU/req`,
      `10: ${fmt(small[what])}, ${small[what].cpuUsPerRequest.toFixed(0)} µs CPU/req`,
      growth(big[what], small[what]),
      "within 1.2x",
    )
  }
  ratioLine(
    `pm growth first read of every package (decode once per revision), ${BIG} vs 10, ${storage}`,
    `${BIG}: ${Math.round(big.firstReadsPerSec)} reads/s`,
    `10: ${Math.round(small.firstReadsPerSec)} reads/s`,
    small.firstReadsPerSec / big.firstReadsPerSec,
    "-",
  )
  ratioLine(
    `pm growth resident memory after every package was read, ${BIG} vs 10, ${storage}`,
    `${BIG}: ${big.rssMiB.toFixed(0)} MiB`,
    `10: ${small.rssMiB.toFixed(0)} MiB`,
    big.rssMiB / small.rssMiB,
    "-",
  )
  ratioLine(
    `pm growth start-up to ready, ${BIG} vs 10 packages, ${storage}`,
    `${BIG}: ${big.readyMs.toFixed(0)} ms`,
    `10: ${small.readyMs.toFixed(0)} ms`,
    big.readyMs / small.readyMs,
    "-",
  )
}
