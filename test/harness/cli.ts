import { chmodSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { makeTempDir } from "./process.ts"

// The compiled `oprc` CLI as a test drives it: a clean environment of its own, or a pseudo-terminal.

export interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
  /** stdout parsed as JSON (for -o json). */
  json(): any
}

export interface Cli {
  readonly home: string
  readonly configFile: string
  run(args: ReadonlyArray<string>, opts?: { readonly env?: Record<string, string>; readonly stdin?: string; readonly cwd?: string }): Promise<CliResult>
}

/**
 * Runs the compiled CLI asynchronously (the servers in this process must keep answering) with
 * its own HOME and config file, and none of the caller's OPRC_* variables.
 */
export const cliRunner = (binary: string, baseEnv: Record<string, string>, cwd: string = process.cwd()): Cli => {
  const home = makeTempDir("oprc-cli-home")
  const configFile = join(home, "config.yaml")
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("OPRC_"))) as Record<string, string>
  return {
    home,
    configFile,
    async run(args, opts = {}) {
      const proc = Bun.spawn([binary, ...args], {
        cwd: opts.cwd ?? cwd,
        env: { ...clean, HOME: home, OPRC_CONFIG: configFile, NO_COLOR: "1", ...baseEnv, ...opts.env },
        stdin: opts.stdin === undefined ? "ignore" : new TextEncoder().encode(opts.stdin),
        stdout: "pipe",
        stderr: "pipe",
      })
      const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
      return {
        code,
        stdout,
        stderr,
        json() {
          try {
            return JSON.parse(stdout)
          } catch {
            throw new Error(`stdout is not JSON (exit ${code}):\n${stdout}\nstderr:\n${stderr}`)
          }
        },
      }
    },
  }
}

/**
 * Runs a command in a pseudo-terminal (util-linux `script`), so the CLI sees a TTY on stdout;
 * returns everything the terminal received, escape sequences included.
 */
export const runInPty = async (binary: string, args: ReadonlyArray<string>, env: Record<string, string>): Promise<{ code: number; output: string }> => {
  const dir = makeTempDir("oprc-cli-pty")
  const script = join(dir, "run.sh")
  const quoted = [binary, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ")
  writeFileSync(script, `#!/bin/sh\nexec ${quoted}\n`)
  chmodSync(script, 0o755)
  const typescript = join(dir, "typescript")
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("OPRC_"))) as Record<string, string>
  // -e: script exits with the child's code; -f: flush as it goes.
  const proc = Bun.spawn(["script", "-q", "-e", "-f", "-c", script, typescript], { env: { ...clean, TERM: "xterm", ...env }, stdin: "pipe", stdout: "pipe", stderr: "pipe" })
  const [output, , code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  return { code, output }
}
