// bench/perf/jit.ts: direction (c) of issue 13, models' fast package decode/encode, and the
// serialisation half of (b), in-process:
// bench/perf/validate.ts run alternately without and with Effect's Schema JIT compiler (each in its
// own process, 2 rounds each), compared on the lowest CPU figure of each mode (the least disturbed
// by the shared machine). Also checks that both modes reject a bad package with the same messages.
// Usage: bun bench/perf/jit.ts [seconds] [--full]
import { ratioLine, secondsArg } from "../lib/report"

const ms = Math.round(secondsArg(process.argv) * 500)
const here = new URL(".", import.meta.url).pathname
interface Run {
  decodeUs: number
  schemaDecodeUs: number
  encodeUs: number
  schemaEncodeUs: number
  toProtoUs: number
  toJsonUs: number
  cachedUs: number
  answerBytes: number
  rejection: string
}
const run = (mode: "plain" | "jit"): Run => {
  const r = Bun.spawnSync([process.execPath, `${here}validate.ts`, mode, String(ms)], {
    stdout: "pipe",
    stderr: "pipe",
  })
  if (r.exitCode !== 0) throw new Error(`validate.ts ${mode}: ${r.stderr.toString()}`)
  return JSON.parse(r.stdout.toString()) as Run
}
const plain: Array<Run> = [], jit: Array<Run> = []
for (let i = 0; i < 2; i++) plain.push(run("plain")), jit.push(run("jit"))
for (const [i, r] of [...plain, ...jit].entries()) {
  console.log(
    `${i < 2 ? "plain" : "jit  "} decode ${r.decodeUs.toFixed(0)} µs (Schema ${
      r.schemaDecodeUs.toFixed(0)
    } µs), encode ${r.encodeUs.toFixed(1)} µs (Schema ${r.schemaEncodeUs.toFixed(0)} µs), toProto ${
      r.toProtoUs.toFixed(1)
    } µs, toJson ${r.toJsonUs.toFixed(1)} µs, cached ${r.cachedUs.toFixed(3)} µs`,
  )
}
if (plain[0]!.rejection !== jit[0]!.rejection) {
  throw new Error(`the JIT changes the rejection:\n${plain[0]!.rejection}\n${jit[0]!.rejection}`)
}
const best = (rs: Array<Run>, f: (r: Run) => number) => Math.min(...rs.map(f))
const p = best(plain, (r) => r.schemaDecodeUs), j = best(jit, (r) => r.schemaDecodeUs)
ratioLine(
  "perf (c) shop package decode+validate, Schema JIT vs plain (CPU µs, in-process)",
  `JIT: ${j.toFixed(0)} µs`,
  `plain: ${p.toFixed(0)} µs`,
  `${(p / j).toFixed(2)} (plain ÷ JIT; same rejection messages)`,
  "> 1",
)
const fast = best(plain, (r) => r.decodeUs), schema = best(plain, (r) => r.schemaDecodeUs)
ratioLine(
  "perf shop package decode+validate, models' fast path vs the Schema interpreter (CPU µs, in-process)",
  `fast: ${fast.toFixed(0)} µs`,
  `Schema: ${schema.toFixed(0)} µs`,
  `${(schema / fast).toFixed(1)}x (same value; rejections go to the Schema)`,
  "> 1",
)
const enc = best(plain, (r) => r.encodeUs), schemaEnc = best(plain, (r) => r.schemaEncodeUs)
ratioLine(
  "perf shop package encode (file form), models' fast path vs the Schema interpreter (CPU µs, in-process)",
  `fast: ${enc.toFixed(1)} µs`,
  `Schema: ${schemaEnc.toFixed(0)} µs`,
  `${(schemaEnc / enc).toFixed(1)}x (same output, key for key)`,
  "> 1",
)
const ser = best(plain, (r) => r.toJsonUs + r.toProtoUs), cached = best(plain, (r) => r.cachedUs)
ratioLine(
  `perf (b) GetPackage answer (${plain[0]!.answerBytes} B): proto + JSON per request vs cached text (CPU µs)`,
  `per request: ${ser.toFixed(1)} µs`,
  `cached: ${cached.toFixed(3)} µs`,
  `${(ser - cached).toFixed(1)} µs saved per call`,
  "-",
)
