// bench/perf/profile.ts: CPU profiles (bun --cpu-prof-md) of four hot paths under wrk load:
// PM GetPackage, PM CreatePackage (memory store, so validation is what is left), ODGM object GET
// and ODGM no-op invoke (memory store). Each server runs from source under the profiler, is loaded
// for `seconds`, then stopped with SIGTERM (the profile is written on exit); the top frames by
// self time are printed per path and written to bench/perf/PROFILES.md; the full Markdown profiles stay in
// the printed directory.
// Usage: bun bench/perf/profile.ts [seconds]
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { benchDir, loadAvg, secondsArg } from "../lib/report"
import { startFromSource } from "../lib/services"
import { shopPackage } from "../lib/shop"
import { freePort, runWrk, startBenchServer, type WrkOptions } from "../lib/wrk"

const seconds = secondsArg(process.argv)
const root = new URL("../../", import.meta.url).pathname
const out = mkdtempSync(join(tmpdir(), "oprc-profiles-"))

const startProfiled = async (name: string, service: "pm" | "odgm", args: ReadonlyArray<string>, cwd: string) => {
  const dir = join(out, name)
  const server = await startFromSource(service, args, { cwd, bunArgs: ["--cpu-prof-md", `--cpu-prof-dir=${dir}`] })
  return {
    base: server.url,
    /** SIGTERM: the profile is written on a normal exit. */
    stop: async () => {
      await server.stop()
      const file = readdirSync(dir).find((f) => f.endsWith(".md"))
      if (file === undefined) throw new Error(`${name}: no profile written in ${dir}`)
      return join(dir, file)
    },
  }
}

/** The profile's own top-N table by self time (Bun's Markdown layout: a "| ... |" table per section). */
const topFrames = (file: string, n = 12) => {
  const text = readFileSync(file, "utf8")
  const start = text.search(/^#+ .*self/im)
  const section = start >= 0 ? text.slice(start) : text
  return section.split("\n").filter((l) => l.startsWith("|")).slice(0, n + 2).join("\n")
}

/**
 * Samples per source file (from the profile's per-function "Samples: N"), the steadier reading:
 * the time columns weigh a frame by the gap since the previous sample, which puts start-up frames
 * (one sample each) at the top of a short run.
 */
const samplesByFile = (file: string, n = 12) => {
  const text = readFileSync(file, "utf8")
  const counts = new Map<string, number>()
  let total = 0
  for (const m of text.matchAll(/^### `[^`]*`\n`([^`]*)` \| Self: [^|]*\| Total: [^|]*\| Samples: (\d+)/gm)) {
    const location = m[1]!.replace(/:\d+$/, "")
    const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(location)
    const where = nm !== null ? nm[1]! : location.replace(root, "")
    const samples = Number(m[2])
    counts.set(where, (counts.get(where) ?? 0) + samples)
    total += samples
  }
  const rows = [...counts].sort((a, b) => b[1] - a[1]).slice(0, n)
  return [
    `${total} samples by file:`,
    "",
    "| samples | share | file |",
    "| ---: | ---: | --- |",
    ...rows.map(([where, c]) => `| ${c} | ${((100 * c) / total).toFixed(1)} % | \`${where}\` |`),
  ].join("\n")
}

const json = { "content-type": "application/json" }
const summaries: Array<string> = []
const profile = async (name: string, server: Awaited<ReturnType<typeof startProfiled>>, load: WrkOptions) => {
  runWrk(load)
  const file = await server.stop()
  summaries.push(
    `### ${name}\n\n\`${
      load.method ?? (load.script !== undefined ? "POST (wrk script)" : "GET")
    } ${load.url}\`, wrk -c${load.connections} ${load.durationSec} s; profile: ${file}\n\n${topFrames(file)}\n\n${
      samplesByFile(file)
    }\n`,
  )
  console.log(summaries[summaries.length - 1])
}

const tmp = benchDir("oprc-profile-run-")
const loadBefore = loadAvg()
// PM GetPackage
{
  const pm = await startProfiled("pm-get", "pm", ["--storage", "memory"], tmp)
  const r = await fetch(`${pm.base}/api/v1/packages`, {
    method: "POST",
    headers: json,
    body: JSON.stringify(shopPackage("shop")),
  })
  if (r.status !== 201) throw new Error(`seed: ${r.status} ${await r.text()}`)
  await profile("PM GetPackage (Connect JSON)", pm, {
    url: `${pm.base}/oprc.pm.v1.PackageService/GetPackage`,
    connections: 50,
    durationSec: seconds,
    method: "POST",
    body: JSON.stringify({ name: "shop" }),
    headers: json,
  })
}
// PM CreatePackage (every request a new name)
{
  const pm = await startProfiled("pm-create", "pm", ["--storage", "memory"], tmp)
  const template = join(tmp, "template.json")
  writeFileSync(template, JSON.stringify(shopPackage("__NAME__")))
  const script = readFileSync(`${root}bench/pm/create.lua`, "utf8").replace(
    "os.getenv(\"TEMPLATE_FILE\")",
    JSON.stringify(template),
  )
  await profile("PM CreatePackage (REST, shop package)", pm, {
    url: pm.base,
    connections: 20,
    durationSec: seconds,
    script,
  })
}
// ODGM object GET and no-op invoke
{
  const fnPort = await freePort()
  const fn = await startBenchServer(`${root}bench/odgm/noop-function.ts`, fnPort)
  writeFileSync(
    join(tmp, "collections.json"),
    JSON.stringify({
      collections: [{
        name: "bench.Obj",
        partitionCount: 4,
        functions: { noop: { url: `http://127.0.0.1:${fnPort}`, stateless: true } },
      }],
    }),
  )
  try {
    const args = [
      "--storage",
      "memory",
      "--collections",
      join(tmp, "collections.json"),
    ]
    const get = await startProfiled("odgm-get", "odgm", args, tmp)
    const put = await fetch(`${get.base}/api/class/bench.Obj/-/objects/o1`, {
      method: "PUT",
      headers: json,
      body: JSON.stringify({ entries: { n: 1, name: "a benchmark object" } }),
    })
    if (put.status >= 300) throw new Error(`seed: ${put.status}`)
    await profile("ODGM object GET (REST)", get, {
      url: `${get.base}/api/class/bench.Obj/-/objects/o1`,
      connections: 50,
      durationSec: seconds,
    })
    const inv = await startProfiled("odgm-invoke", "odgm", args, tmp)
    await profile("ODGM no-op invoke (REST, stateless)", inv, {
      url: `${inv.base}/api/class/bench.Obj/-/invokes/noop`,
      connections: 50,
      durationSec: seconds,
      method: "POST",
      body: "{}",
      headers: json,
    })
  } finally {
    await fn.stop()
  }
}
const tail = `load average before ${loadBefore}, after ${loadAvg()}; profiles in ${out}`
writeFileSync(
  new URL("PROFILES.md", import.meta.url).pathname,
  [
    "# bench/perf/profile.ts results",
    "",
    `Run: ${
      new Date().toISOString()
    }, \`bun bench/perf/profile.ts ${seconds}\` (servers from source under \`bun --cpu-prof-md\`, memory storage,`,
    `wrk on the same shared 2-core machine); ${tail}. Top frames by self time; "Total" counts a recursive frame once per`,
    "level, so it can exceed the real share (protobuf's compiledWriter recurses per nested message).",
    "",
    ...summaries,
  ].join("\n"),
)
console.log(tail)
