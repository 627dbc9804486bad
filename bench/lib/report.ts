// The one-line ratio every benchmark prints; bench/run.ts collects these lines into its summary.
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export const RATIO_PREFIX = "RATIO "

/** Prints `RATIO <measure> | <now> | <baseline> | <ratio> | aim <aim>` (aim may be empty). */
export const ratioLine = (measure: string, now: string, baseline: string, ratio: number | string, aim = "") =>
  console.log(
    `${RATIO_PREFIX}${measure} | ${now} | ${baseline} | ${typeof ratio === "number" ? ratio.toFixed(2) : ratio} | aim ${
      aim || "-"
    }`,
  )

export const loadAvg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")

/** Seconds per measure: argv[2] if given, else 2 (quick) or 10 with --full. */
export const secondsArg = (argv: ReadonlyArray<string>) => {
  const n = argv.slice(2).find((a) => /^\d+(\.\d+)?$/.test(a))
  return n !== undefined ? Number(n) : argv.includes("--full") ? 10 : 2
}

/** The `p`th percentile (0..100) of `xs`, nearest rank. */
export const percentile = (xs: ReadonlyArray<number>, p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!
}

/**
 * A fresh folder under the system temp dir, removed when the benchmark exits: the stores, files
 * and scripts of one run (SQLite files of a million objects among them) are not left behind.
 */
export const benchDir = (prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }))
  return dir
}
