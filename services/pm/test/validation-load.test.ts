import { afterAll, beforeAll, expect, test } from "bun:test"
import YAML from "yaml"
import { checkShape, defaultPackageLimits, packageShape, Violations } from "@oprc/models"
import { freePort, healthUnderLoad, makeTempDir, type ServerProcess } from "@oprc/test-harness"
import { spawnPm } from "./support"

// Issue 7, obs. 2: while four worst-case package requests (each just under every limit, or far
// over one) run back to back on four connections, the PM's event loop keeps answering /healthz
// quickly and its memory stays bounded. The PM is a real process; RSS is read from /proc.

const RUN_MS = 4000
// The aim: /healthz p99 under 100 ms on a quiet machine (measured 45-66 ms there, after
// the heavy lane and the stepped decoding; before them 150-250 ms, and 3-14 s before the limits).
const HEALTH_P99_AIM_MS = 100
// Four requests in flight hold at most four 4 MiB bodies, their parsed forms and Schema's work.
const RSS_GROWTH_BUDGET_MB = 300

let pm: ServerProcess
let url: string

beforeAll(async () => {
  const port = await freePort()
  pm = await spawnPm({
    dir: makeTempDir("pm-load"),
    port,
    args: ["--storage", "memory"],
    env: { OPRC_TELEMETRY_LOG_LEVEL: "error" },
  })
  url = `http://127.0.0.1:${port}`
})
afterAll(() => pm?.stop(3000))

const values = (input: unknown) => {
  const v = new Violations()
  checkShape(input, { ...packageShape(defaultPackageLimits), maxNodes: Number.MAX_SAFE_INTEGER }, v)
  let n = 0
  const stack: Array<unknown> = [input]
  while (stack.length > 0) {
    const x = stack.pop()
    if (x !== null && typeof x === "object") { for (const c of Object.values(x)) (n++, stack.push(c)) }
  }
  return { violations: v.size, values: n }
}

/** A package just under every limit: counts, string lengths, and the document's value budget. */
const worstPackage = (name: string, classes: number, bindings: number) => ({
  name,
  version: "1.0.0",
  metadata: {
    description: "d".repeat(defaultPackageLimits.maxStringLength - 1),
    tags: Array.from({ length: defaultPackageLimits.maxTags }, (_, i) => `tag-${i}`),
    labels: Object.fromEntries(Array.from({ length: defaultPackageLimits.maxLabels }, (_, i) => [`l${i}`, "v"])),
  },
  functions: Array.from(
    { length: 64 },
    (_, i) => ({ key: `f${i}`, provision: { image: "img", command: ["run", "--x"] } }),
  ),
  classes: Array.from({ length: classes }, (_, c) => ({
    key: `C${c}`,
    state: { keys: Array.from({ length: 4 }, (_, k) => ({ name: `k${k}` })) },
    bindings: Array.from({ length: bindings }, (_, b) => ({ name: `b${b}`, function: `f${b % 64}` })),
    triggers: Array.from(
      { length: 4 },
      (_, t) => ({ event: "DATA_UPDATE", source: "k1", target: { function: `b${t}` } }),
    ),
  })),
})

test("/healthz p99 stays bounded (aim 100 ms) and RSS within budget while 4 worst-case requests run", async () => {
  const json = worstPackage("worst-json", 200, 64)
  const yaml = worstPackage("worst-yaml", 11, 30)
  const jsonShape = values(json)
  const yamlShape = values(yaml)
  // Just under the limits: nothing refused by the pre-pass, the value budgets nearly used up.
  expect(jsonShape.violations).toBe(0)
  expect(jsonShape.values).toBeGreaterThan(defaultPackageLimits.maxValues * 0.9)
  expect(jsonShape.values).toBeLessThan(defaultPackageLimits.maxValues)
  expect(yamlShape.violations).toBe(0)
  expect(yamlShape.values).toBeGreaterThan(defaultPackageLimits.maxYamlValues * 0.9)
  expect(yamlShape.values).toBeLessThan(defaultPackageLimits.maxYamlValues)

  const requests = [
    { name: "json just under every limit", type: "application/json", body: JSON.stringify(json) },
    { name: "yaml just under every limit", type: "application/yaml", body: YAML.stringify(yaml) },
    {
      name: "json with 1 M tags",
      type: "application/json",
      body: JSON.stringify({ name: "tags", version: "1.0.0", metadata: { tags: Array(1_000_000).fill(1) } }),
    },
    {
      name: "yaml nested 1 M levels",
      type: "application/yaml",
      body: "name: " + "[".repeat(1_000_000) + "]".repeat(1_000_000),
    },
  ]
  for (const r of requests) expect(r.body.length).toBeLessThan(4 * 1024 * 1024)

  // Warm up (JIT, first create), then the baselines, then all four loop while /healthz is polled.
  const report = await healthUnderLoad({
    url,
    pid: pm.pid,
    runMs: RUN_MS,
    requests: requests.map((r) => ({
      name: r.name,
      send: () =>
        fetch(`${url}/api/v1/packages`, { method: "POST", headers: { "content-type": r.type }, body: r.body })
          .then(async (x) => (await x.text(), x.status)),
    })),
  })
  console.log("pm worst-case load:", JSON.stringify(report))
  // Every worst-case request got its answer (409: the under-limit package exists after the first; 400: refused).
  for (const [name, seen] of Object.entries(report.requests)) {
    expect([name, Object.keys(seen).every((s) => s === "400" || s === "409")]).toEqual([name, true])
    expect(Object.keys(seen).length).toBeGreaterThan(0)
  }
  // On a loaded machine every stretch of CPU work takes longer by about load/cores: the aim grows by that factor.
  console.log(`/healthz p99 ${report.p99Ms} ms (aim ${HEALTH_P99_AIM_MS} ms x slowdown ${report.slowdown})`)
  expect(report.p99Ms).toBeLessThan(HEALTH_P99_AIM_MS * report.slowdown + report.idleP99Ms)
  expect(report.rssPeakMb - report.rssBaselineMb).toBeLessThan(RSS_GROWTH_BUDGET_MB)
}, 60_000)
