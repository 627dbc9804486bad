#!/usr/bin/env bun
// `npm test`: system deps, type-check, proto lint, then `bun test` over the workspace.
// Extra arguments go to `bun test` (`npm test -- services/pm` runs only those tests).
// The last line is always `N passed, N failed`: bun's test count plus one each for the
// type-check and the lint, so CI sees a count even though bun prints none in that shape.
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { ensureBinaries } from "../test/harness/system.ts"

const root = join(import.meta.dir, "..")
const bin = (name: string) => join(root, "node_modules", ".bin", name)
const minutes = (env: string, dflt: number) => Number(process.env[env] ?? dflt) * 60_000

const log = (msg: string) => console.error(`[test] ${msg}`)
const secs = (t0: number) => `${((performance.now() - t0) / 1000).toFixed(1)} s`

let passed = 0
let failed = 0

interface RunResult {
  code: number | null
  timedOut: boolean
  /** The last part of stdout+stderr, for parsing summaries. */
  tail: string
}

const TAIL_BYTES = 256 * 1024

/**
 * Runs a command with its output streamed live. It gets its own process group, so a timeout
 * (or a test that leaked servers) can be cleaned up by killing the whole group.
 */
function run(cmd: string[], timeoutMs: number, env: Record<string, string> = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd[0]!, cmd.slice(1), {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    })
    let tail = ""
    const tee = (out: NodeJS.WriteStream) => (chunk: Buffer) => {
      out.write(chunk)
      tail = (tail + chunk.toString("utf8")).slice(-TAIL_BYTES)
    }
    child.stdout!.on("data", tee(process.stdout))
    child.stderr!.on("data", tee(process.stderr))
    const killGroup = (sig: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, sig)
      } catch {}
    }
    let timedOut = false
    let hardKill: ReturnType<typeof setTimeout> | undefined
    const timer = setTimeout(() => {
      timedOut = true
      log(`${cmd.join(" ")}: no result after ${timeoutMs / 60_000} min, killing it`)
      killGroup("SIGTERM")
      hardKill = setTimeout(() => killGroup("SIGKILL"), 10_000)
    }, timeoutMs)
    const onSignal = (sig: NodeJS.Signals) => {
      killGroup("SIGKILL")
      process.exit(sig === "SIGINT" ? 130 : 143)
    }
    process.once("SIGINT", onSignal)
    process.once("SIGTERM", onSignal)
    child.on("error", (e) => {
      tail += `\n${e.message}`
      log(`${cmd[0]}: ${e.message}`)
    })
    child.on("close", (code) => {
      clearTimeout(timer)
      clearTimeout(hardKill)
      process.off("SIGINT", onSignal)
      process.off("SIGTERM", onSignal)
      // Servers a test forgot to stop are still in the group; they would hold ports and CPU.
      try {
        process.kill(-child.pid!, 0)
        log(`${cmd[0]} left processes behind in its group; killing them`)
        killGroup("SIGKILL")
      } catch {}
      resolve({ code, timedOut, tail })
    })
  })
}

/** A step that counts as exactly one test. */
async function check(name: string, cmd: string[], timeoutMs: number) {
  log(`> ${name}: ${cmd.map((c) => c.replace(root + "/", "")).join(" ")}`)
  const t0 = performance.now()
  const r = await run(cmd, timeoutMs)
  const ok = r.code === 0 && !r.timedOut
  if (ok) passed++
  else failed++
  log(`${ok ? "PASS" : "FAIL"} ${name} (${secs(t0)})`)
}

const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "")
const lastCount = (text: string, word: string) => {
  const all = [...text.matchAll(new RegExp(`^\\s*(\\d+) ${word}\\s*$`, "gm"))]
  return all.length > 0 ? Number(all[all.length - 1]![1]) : undefined
}

/** Test counts from the end of `bun test` output (the ` N pass` / ` N fail` lines, docs/toolchain.md §6). */
export function parseBunSummary(output: string, code: number | null, timedOut: boolean) {
  const text = stripAnsi(output)
  const pass = lastCount(text, "pass") ?? 0
  // Errors between tests (unhandled rejections, a throwing file) abort files and count as failures.
  let fail = (lastCount(text, "fail") ?? 0) + (lastCount(text, "error") ?? 0)
  // A crash, a timeout or "No tests found!" has no failing test to count, but it must still fail.
  if ((code !== 0 || timedOut) && fail === 0) fail = 1
  return { pass, fail }
}

/** (a) System deps. Not a test of our code, so it adds to the count only when it fails. */
async function systemDeps() {
  const t0 = performance.now()
  log("> system deps: etcd, etcdctl, prometheus, nats-server")
  try {
    await ensureBinaries(undefined, { log: (l) => log(l) })
    log(`PASS system deps (${secs(t0)})`)
  } catch (e) {
    failed++
    log(`FAIL system deps: ${(e as Error).message}`)
  }
}

/** (d) scripts/style.ts: its closing `N passed, N failed` line adds to the counts (one per tool). */
async function style() {
  log("> style gate: dprint, oxlint, knip")
  const t0 = performance.now()
  const r = await run([process.execPath, join(root, "scripts", "style.ts")], minutes("OPRC_STYLE_TIMEOUT_MIN", 10))
  const m = /^(\d+) passed, (\d+) failed\s*$/m.exec(stripAnsi(r.tail))
  const pass = m ? Number(m[1]) : 0
  const fail = m ? Number(m[2]) : 1
  passed += pass
  failed += r.code === 0 ? fail : Math.max(fail, 1)
  log(`${r.code === 0 ? "PASS" : "FAIL"} style gate: ${pass} passed, ${fail} failed (${secs(t0)})`)
}

/**
 * (e) bun test. A per-test timeout catches one hung test; the overall one catches a hung or
 * wedged test process, which would otherwise hold CI forever.
 */
async function bunTest(args: string[]) {
  const timeoutArgs = args.some((a) => a.startsWith("--timeout")) ? [] : ["--timeout=60000"]
  const cmd = [process.execPath, "test", ...timeoutArgs, ...args]
  log(`> bun test: ${["bun", ...cmd.slice(1)].join(" ")}`)
  const t0 = performance.now()
  const r = await run(cmd, minutes("OPRC_TEST_TIMEOUT_MIN", 40), process.stdout.isTTY ? { FORCE_COLOR: "1" } : {})
  const { pass, fail } = parseBunSummary(r.tail, r.code, r.timedOut)
  passed += pass
  failed += fail
  const why = r.timedOut ? "timed out" : `exit ${r.code}`
  log(`${fail === 0 ? "PASS" : "FAIL"} bun test: ${pass} passed, ${fail} failed (${why}, ${secs(t0)})`)
}

if (import.meta.main) {
  await systemDeps()
  // (b) type-check and (c) proto lint, one test each.
  await check("type-check", [bin("tsc"), "--noEmit", "-p", "tsconfig.json"], minutes("OPRC_TYPECHECK_TIMEOUT_MIN", 10))
  if (existsSync(join(root, "buf.yaml"))) {
    await check("buf lint", [bin("buf"), "lint"], minutes("OPRC_LINT_TIMEOUT_MIN", 5))
  } else log("SKIP buf lint: no buf.yaml at the repository root")
  // (d) the style gate: formatting (dprint), lint (oxlint), unused code and dependencies (knip);
  // one test per tool, so the closing line counts them.
  await style()
  await bunTest(process.argv.slice(2))
  console.log(`${passed} passed, ${failed} failed`)
  process.exit(failed > 0 ? 1 : 0)
}
