// Compiles the four binaries with `bun build --compile` into dist/.
// Two plugins make the binaries self-contained (see docs/toolchain.md §4):
//  - etcd3 loads its .proto from __dirname at run time, which in a compiled binary is the
//    build machine's path: inline the parsed descriptor instead (keepCase is required).
//  - under Bun, `undici` resolves to Bun's shim whose TLS options are ignored: bundle the real
//    undici into @kubernetes/client-node so kubeconfig CA data and client certs work.
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import protobuf from "protobufjs"

const root = new URL("..", import.meta.url).pathname
const require = createRequire(import.meta.url)
const version = (await Bun.file(`${root}package.json`).json()).version as string

const etcd3InlineProto: Bun.BunPlugin = {
  name: "etcd3-inline-proto",
  setup(build) {
    build.onLoad({ filter: /etcd3[\\/]lib[\\/]connection-pool\.js$/ }, async (args) => {
      const src = await Bun.file(args.path).text()
      const proto = new URL("../proto/rpc.proto", Bun.pathToFileURL(args.path)).pathname
      const json = JSON.stringify(new protobuf.Root().loadSync(proto, { keepCase: true }).toJSON())
      const out = src.replace(
        /\(0, proto_loader_1\.loadSync\)\(`\$\{__dirname\}\/\.\.\/proto\/rpc\.proto`,/,
        `(0, proto_loader_1.fromJSON)(${json},`,
      )
      if (out === src) throw new Error("etcd3's connection-pool.js changed shape; update the build plugin")
      return { contents: out, loader: "js" }
    })
  },
}

const realUndici = (): Bun.BunPlugin | undefined => {
  let path: string
  try {
    path = require.resolve("undici/index.js", { paths: [root] })
  } catch {
    return undefined // the Kubernetes client is not installed yet; nothing to patch
  }
  return {
    name: "real-undici",
    setup(build) {
      build.onLoad({ filter: /@kubernetes[\\/]client-node[\\/]dist[\\/].*\.js$/ }, async (args) => ({
        contents: (await Bun.file(args.path).text()).replace(/from ['"]undici['"]/g, `from ${JSON.stringify(path)}`),
        loader: "js",
      }))
    },
  }
}

// Every binary carries precompiled bytecode (ESM): parsing the bundle was most of the start-up.
// Spawn to first /healthz 200, quiet machine (docs/benchmarks.md, start-up): oprc-pm 362 -> 170 ms,
// oprc-odgm 237 -> 155 ms with bytecode alone. Code splitting keeps what a start does not import
// (the Kubernetes driver, etcd3, the OTLP exporter, `oprc dev`'s servers) in chunks of their own,
// loaded on their first `import()`: 10-30 ms less CPU per start (docs/benchmarks.md).
const binaries = [
  { name: "oprc-pm", entry: "services/pm/src/main.ts" },
  { name: "oprc-crm", entry: "services/crm/src/main.ts" },
  { name: "oprc-odgm", entry: "services/odgm/src/main.ts" },
  { name: "oprc", entry: "services/cli/src/main.ts" },
]

// Usage: bun scripts/build.ts [--outdir DIR] [binary ...]   (default: all four into dist/)
const args = process.argv.slice(2)
const outIndex = args.indexOf("--outdir")
const outdir = outIndex >= 0 ? args.splice(outIndex, 2)[1]! : `${root}dist`
const only = args
mkdirSync(outdir, { recursive: true })
const plugins = [etcd3InlineProto, realUndici()].filter((p): p is Bun.BunPlugin => p !== undefined)
for (const b of binaries) {
  if (only.length > 0 && !only.includes(b.name)) continue
  if (!existsSync(`${root}${b.entry}`)) throw new Error(`missing entry point ${b.entry}`)
  // The chunks live inside the binary; their source maps are written beside it, named after it so
  // that the previous build's can be removed (the binary's stack traces do not need them).
  for (const f of readdirSync(outdir)) if (f.startsWith(`${b.name}-chunk-`)) rmSync(`${outdir}/${f}`)
  const started = performance.now()
  const result = await Bun.build({
    entrypoints: [`${root}${b.entry}`],
    compile: { outfile: `${outdir}/${b.name}` },
    minify: true,
    sourcemap: "linked",
    bytecode: true,
    format: "esm",
    splitting: true,
    naming: { chunk: `${b.name}-chunk-[hash].[ext]` },
    define: { "process.env.OPRC_BUILD_VERSION": JSON.stringify(version) },
    plugins,
  })
  if (!result.success) {
    for (const log of result.logs) console.error(log)
    throw new Error(`build of ${b.name} failed`)
  }
  console.log(`${outdir}/${b.name}  (${Math.round(performance.now() - started)} ms)`)
}
