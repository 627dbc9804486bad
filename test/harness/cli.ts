import { chmodSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { makeTempDir, waitForHttp } from "./process.ts"

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
  run(
    args: ReadonlyArray<string>,
    opts?: { readonly env?: Record<string, string>; readonly stdin?: string; readonly cwd?: string },
  ): Promise<CliResult>
}

/**
 * Runs the compiled CLI asynchronously (the servers in this process must keep answering) with
 * its own HOME and config file, and none of the caller's OPRC_* variables.
 */
export const cliRunner = (binary: string, baseEnv: Record<string, string>, cwd: string = process.cwd()): Cli => {
  const home = makeTempDir("oprc-cli-home")
  const configFile = join(home, "config.yaml")
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("OPRC_"))) as Record<
    string,
    string
  >
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
      const [stdout, stderr, code] = await Promise.all([
        new Response(proc.stdout).text(),
        new Response(proc.stderr).text(),
        proc.exited,
      ])
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
export const runInPty = async (
  binary: string,
  args: ReadonlyArray<string>,
  env: Record<string, string>,
): Promise<{ code: number; output: string }> => {
  const dir = makeTempDir("oprc-cli-pty")
  const script = join(dir, "run.sh")
  const quoted = [binary, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ")
  writeFileSync(script, `#!/bin/sh\nexec ${quoted}\n`)
  chmodSync(script, 0o755)
  const typescript = join(dir, "typescript")
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("OPRC_"))) as Record<
    string,
    string
  >
  // -e: script exits with the child's code; -f: flush as it goes.
  const proc = Bun.spawn(["script", "-q", "-e", "-f", "-c", script, typescript], {
    env: { ...clean, TERM: "xterm", ...env },
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  })
  const [output, , code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ])
  return { code, output }
}

export interface DevPlatform {
  readonly pid: number
  readonly pmUrl: string
  readonly odgmUrl: string
  readonly crmUrl: string
  /** Everything `oprc dev` printed so far (stdout and stderr). */
  output(): string
  /** Resolves once the output matches; fails with the output's tail on timeout or exit. */
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<void>
  /** Resolves once the PM has printed its address and the PM, ODGM and CRM answer /readyz 200. */
  waitForReady(timeoutMs?: number): Promise<void>
  readonly exited: Promise<number>
  exitCode(): number | null
  kill(signal: NodeJS.Signals): void
}

/**
 * Starts `oprc dev` (the compiled CLI) on the given loopback ports with `--data-dir` and any
 * further arguments (`--apply FILE...`, `--set k=v`), collecting its output.
 */
export const startOprcDev = (
  binary: string,
  opts: {
    readonly ports: readonly [number, number, number]
    readonly dataDir: string
    readonly args?: ReadonlyArray<string>
    readonly cwd: string
    readonly env?: Record<string, string>
  },
): DevPlatform => {
  const [pmPort, odgmPort, crmPort] = opts.ports
  const proc = Bun.spawn([
    binary,
    "dev",
    "--pm-port",
    String(pmPort),
    "--odgm-port",
    String(odgmPort),
    "--crm-port",
    String(crmPort),
    "--set",
    "pm.server.host=127.0.0.1",
    "--set",
    "odgm.server.host=127.0.0.1",
    "--set",
    "crm.server.host=127.0.0.1",
    "--data-dir",
    opts.dataDir,
    ...(opts.args ?? []),
  ], {
    cwd: opts.cwd,
    env: { ...process.env, OPRC_TELEMETRY_LOG_LEVEL: "warn", ...opts.env },
    stdout: "pipe",
    stderr: "pipe",
  })
  let output = ""
  for (const stream of [proc.stdout, proc.stderr] as Array<ReadableStream<Uint8Array>>) {
    void (async () => {
      const decoder = new TextDecoder()
      for await (const chunk of stream) output += decoder.decode(chunk, { stream: true })
    })()
  }
  const platform: DevPlatform = {
    pid: proc.pid,
    pmUrl: `http://127.0.0.1:${pmPort}`,
    odgmUrl: `http://127.0.0.1:${odgmPort}`,
    crmUrl: `http://127.0.0.1:${crmPort}`,
    output: () => output,
    async waitForReady(timeoutMs = 60_000) {
      await platform.waitForOutput(/oprc dev: PM http/, timeoutMs)
      for (const url of [platform.pmUrl, platform.odgmUrl, platform.crmUrl]) {
        await waitForHttp(`${url}/readyz`, (s) => s === 200, 30_000, {
          abortIf: () => (proc.exitCode === null ? undefined : output),
        })
      }
    },
    async waitForOutput(pattern, timeoutMs) {
      const deadline = Date.now() + timeoutMs
      while (!pattern.test(output)) {
        if (Date.now() > deadline) {
          throw new Error(
            `oprc dev did not print ${pattern} within ${timeoutMs} ms; it printed:\n${output.slice(-3000)}`,
          )
        }
        if (proc.exitCode !== null) throw new Error(`oprc dev exited with ${proc.exitCode}:\n${output.slice(-3000)}`)
        await Bun.sleep(100)
      }
    },
    exited: proc.exited,
    exitCode: () => proc.exitCode,
    kill: (signal) => proc.kill(signal),
  }
  return platform
}
