import type { Schema } from "effect"
import { editDistance } from "@oprc/models/distance"
import type { ConfigIssue } from "./errors.ts"
import { type ConfigSpec, describeSchema, type Leaf } from "./spec.ts"

/** Service-specific flags: flag name (e.g. "--port") to key path (e.g. "server.port"). */
export type FlagMap = Readonly<Record<string, string>>

/** One value given on the command line, in command-line order (later ones win). */
export interface Assignment {
  readonly key: string
  readonly value: string
  readonly flag: string
}

export interface ParsedArgs {
  /** `--config <file>`, if given. */
  readonly config: string | undefined
  readonly help: boolean
  readonly version: boolean
  readonly assignments: ReadonlyArray<Assignment>
  /** Unknown flags, missing values, stray arguments. */
  readonly issues: ReadonlyArray<ConfigIssue>
}

const RESERVED = new Set(["--config", "--help", "-h", "--version", "--set"])

const didYouMean = (word: string, candidates: Iterable<string>): string => {
  let best: string | undefined
  let bestDistance = Math.max(1, Math.floor(word.length / 5)) + 1
  for (const candidate of candidates) {
    const d = editDistance(word, candidate)
    if (d < bestDistance) [best, bestDistance] = [candidate, d]
  }
  return best === undefined ? "" : ` (did you mean ${best}?)`
}

const isBooleanLeaf = (leaf: Leaf | undefined) => leaf?.encoded._tag === "Boolean"
const BOOLEAN_WORDS = /^(true|false|yes|no|on|off|1|0)$/i

/** Checks the service's flag map against the schema; a bad map is a programming error. */
export const checkFlagMap = (spec: ConfigSpec, flags: FlagMap): void => {
  for (const [flag, key] of Object.entries(flags)) {
    if (!flag.startsWith("-") || RESERVED.has(flag)) throw new Error(`config flag map: invalid flag name ${flag}`)
    if (!spec.byKey.has(key)) throw new Error(`config flag map: ${flag} maps to unknown key ${key}`)
  }
}

export const parseArgsWith = (spec: ConfigSpec, argv: ReadonlyArray<string>, flags: FlagMap): ParsedArgs => {
  checkFlagMap(spec, flags)
  const issues: Array<ConfigIssue> = []
  const assignments: Array<Assignment> = []
  const fail = (flag: string, message: string) => issues.push({ path: "", message, source: { _tag: "Flag", flag } })
  let config: string | undefined
  let help = false
  let version = false
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] ?? ""
    if (token === "--") {
      for (const rest of argv.slice(i + 1)) issues.push({ path: "", message: `unexpected argument "${rest}"` })
      break
    }
    if (!token.startsWith("-") || token === "-") {
      issues.push({ path: "", message: `unexpected argument "${token}"` })
      continue
    }
    const eq = token.indexOf("=")
    const name = eq === -1 ? token : token.slice(0, eq)
    const inline = eq === -1 ? undefined : token.slice(eq + 1)
    const negated = name.startsWith("--no-") ? `--${name.slice(5)}` : undefined
    const boolean = isBooleanLeaf(spec.byKey.get(flags[name] ?? ""))
    if (negated !== undefined && inline === undefined && isBooleanLeaf(spec.byKey.get(flags[negated] ?? ""))) {
      assignments.push({ key: flags[negated] ?? "", value: "false", flag: name })
      continue
    }
    if (name === "--help" || name === "-h") {
      help = true
      continue
    }
    if (name === "--version") {
      version = true
      continue
    }
    if (name !== "--config" && name !== "--set" && flags[name] === undefined) {
      fail(name, `unknown flag${didYouMean(name, [...RESERVED, ...Object.keys(flags)])}`)
      // Its value, if it has one, would otherwise be reported again as a stray argument.
      const next = argv[i + 1]
      if (inline === undefined && next !== undefined && !next.startsWith("-")) i++
      continue
    }
    // A value-less boolean flag means true; `--flag false` is read only when the next word is
    // clearly a boolean, so `--flag` followed by another argument keeps working.
    let value = inline
    if (value === undefined && boolean) {
      const next = argv[i + 1]
      if (next !== undefined && BOOLEAN_WORDS.test(next)) {
        value = next
        i++
      } else {
        value = "true"
      }
    }
    if (value === undefined) {
      const next = argv[i + 1]
      if (next === undefined || next.startsWith("--")) {
        fail(name, "needs a value")
        continue
      }
      value = next
      i++
    }
    if (name === "--config") {
      if (config !== undefined) fail(name, "given more than once")
      config = value
    } else if (name === "--set") {
      const at = value.indexOf("=")
      const key = at === -1 ? value : value.slice(0, at)
      if (at === -1) fail(name, "expected key=value")
      else if (!spec.byKey.has(key)) fail(name, `unknown key ${key}${didYouMean(key, spec.byKey.keys())}`)
      else assignments.push({ key, value: value.slice(at + 1), flag: `--set ${key}` })
    } else {
      assignments.push({ key: flags[name] ?? "", value, flag: name })
    }
  }
  return { config, help, version, assignments, issues }
}

/**
 * Reads the command line (without the runtime and script: `process.argv.slice(2)`):
 * `--config <file>`, `--help`, `--version`, the service's flags and `--set key=value`.
 */
export const parseArgs = (schema: Schema.Top, argv: ReadonlyArray<string>, flags: FlagMap = {}): ParsedArgs =>
  parseArgsWith(describeSchema(schema), argv, flags)
