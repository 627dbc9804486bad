// bench/perf/validate.ts: CPU cost of the PM's per-package work, in-process (no HTTP, no store):
//  - decode (validate) the shop package as CreatePackage does (models' fast path), and with the
//    Effect Schema interpreter alone (what every rejection still goes through);
//  - encode it to its file form (storage and REST answers), fast path vs the Schema;
//  - the GetPackage answer: Package -> proto -> Connect JSON text, vs a cached text per revision.
// Run once as is and once with Effect's Schema JIT compiler enabled (argv[2] = "jit"), each in its
// own process, because enabling the JIT is global. Prints one JSON line (µs per operation).
// Usage: bun bench/perf/validate.ts [plain|jit] [milliseconds per measure]
const mode = process.argv[2] ?? "plain"
if (mode === "jit") await import("effect/schema/SchemaJITCompiler/enable")
const { Effect } = await import("effect")
const { toJsonString } = await import("@bufbuild/protobuf")
const { commonv1 } = await import("@oprc/proto")
const { decodePackageChecked, decodeWith, encodePackage, Package, packageToProto } = await import("@oprc/models")
const { Schema } = await import("effect")

const budgetMs = Number(process.argv[3] ?? 1500)
const root = new URL("../../", import.meta.url).pathname
const shop = JSON.parse(JSON.stringify(Bun.YAML.parse(await Bun.file(`${root}examples/shop/package.yaml`).text())))

/**
 * Mean CPU µs (user + system of this process) per call of `f`, after a warm-up of a third of the
 * budget. CPU time, not wall time: the shared machine deschedules us often.
 */
const perCall = (f: () => unknown): number => {
  const until = (ms: number) => {
    const end = performance.now() + ms
    let n = 0
    const c0 = process.cpuUsage()
    while (performance.now() < end) {
      for (let i = 0; i < 20; i++) f()
      n += 20
    }
    const c = process.cpuUsage(c0)
    return (c.user + c.system) / n
  }
  until(budgetMs / 3)
  return until(budgetMs)
}

const decode = () => Effect.runSync(decodePackageChecked(shop))
const schemaDecode = decodeWith(Package)
const schemaEncode = Schema.encodeSync(Package)
const pkg = decode()
const proto = packageToProto(pkg)
const cached = new Map([[`shop@1`, toJsonString(commonv1.PackageSchema, proto)]])
const result = {
  mode,
  decodeUs: perCall(decode),
  schemaDecodeUs: perCall(() => Effect.runSync(schemaDecode(shop))),
  encodeUs: perCall(() => encodePackage(pkg)),
  schemaEncodeUs: perCall(() => schemaEncode(pkg, { disableChecks: true })),
  toProtoUs: perCall(() => packageToProto(pkg)),
  toJsonUs: perCall(() => toJsonString(commonv1.PackageSchema, proto)),
  cachedUs: perCall(() => cached.get(`shop@1`)),
  answerBytes: cached.get("shop@1")!.length,
  // The JIT must not change what is accepted or what the user is told: compare across modes.
  rejection: Effect.runSync(
    Effect.flip(schemaDecode({ ...shop, name: "Bad Name!", version: 7, classes: [{ key: "" }] })).pipe(
      Effect.map((e) => JSON.stringify(e.violations)),
    ),
  ),
}
console.log(JSON.stringify(result))
