import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { waitForPortFree } from "./ports.ts"
import { findBinary } from "./system.ts"

export interface ServerProcess {
  readonly name: string
  readonly pid: number
  readonly logFile: string
  readonly ports: readonly number[]
  /** Resolves with the exit code (or null after a signal) once the process has been reaped. */
  readonly exited: Promise<number | null>
  alive(): boolean
  /** Last `lines` lines of the combined stdout/stderr. */
  logTail(lines?: number): string
  /** SIGTERM, SIGKILL after `timeoutMs`, then wait until the ports are free. Idempotent. */
  stop(timeoutMs?: number): Promise<void>
  /** SIGKILL, then wait until the ports are free. Idempotent. */
  kill9(): Promise<void>
}

export interface SpawnOptions {
  name: string
  cmd: string[]
  /** Ports the server binds; stop()/kill9() return only once they are free again. */
  ports?: number[]
  env?: Record<string, string>
  cwd?: string
  /** Log file path; by default a new temp file removed by stop(). */
  logFile?: string
}

// Children would outlive a crashed or interrupted test process; the exit hook kills whatever
// is still registered and removes registered temp dirs (synchronously, as exit hooks must).
const live = new Map<number, ServerProcess>()
const tempDirs = new Set<string>()
let hookInstalled = false
function installExitHook() {
  if (hookInstalled) return
  hookInstalled = true
  process.on("exit", () => {
    for (const pid of live.keys()) {
      try {
        process.kill(pid, "SIGKILL")
      } catch {}
    }
    if (process.env.OPRC_KEEP_TEMP) return
    for (const d of tempDirs) rmSync(d, { recursive: true, force: true })
  })
  // A signal's default action skips "exit" hooks; exiting explicitly runs them. Only when nobody
  // else handles the signal, so a program's own graceful shutdown keeps working.
  for (const [sig, n] of [["SIGINT", 2], ["SIGTERM", 15], ["SIGHUP", 1]] as const) {
    if (process.listenerCount(sig) === 0) process.once(sig, () => process.exit(128 + n))
  }
}

// bun test emits no "exit" event, and a SIGKILLed run cannot clean up, so dirs carry their
// owner's PID and later runs remove those whose owner is gone.
let swept = false
function sweepStaleTempDirs() {
  if (swept || process.env.OPRC_KEEP_TEMP) return
  swept = true
  for (const name of readdirSync(tmpdir())) {
    const owner = /^oprc-(\d+)-/.exec(name)?.[1]
    if (owner && !isPidAlive(Number(owner))) rmSync(join(tmpdir(), name), { recursive: true, force: true })
  }
}

/** A fresh temp dir, removed by `removeTempDir`, at process exit, or by a later run. */
export function makeTempDir(prefix: string): string {
  installExitHook()
  sweepStaleTempDirs()
  const dir = mkdtempSync(join(tmpdir(), `oprc-${process.pid}-${prefix}-`))
  tempDirs.add(dir)
  return dir
}

export function removeTempDir(dir: string): void {
  tempDirs.delete(dir)
  if (!process.env.OPRC_KEEP_TEMP) rmSync(dir, { recursive: true, force: true })
}

export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

// The kernel SIGKILLs the server when the test process dies, whatever way it dies (bun test
// runs no exit hooks). setpriv (util-linux, essential on Debian) execs, so the PID is the server's.
let setpriv: string | null | undefined
const withParentDeathSignal = (cmd: string[]) => {
  if (setpriv === undefined) setpriv = process.platform === "linux" ? findBinary("setpriv") ?? null : null
  return setpriv ? [setpriv, "--pdeathsig", "KILL", "--", ...cmd] : cmd
}

export function spawnServer(opts: SpawnOptions): ServerProcess {
  installExitHook()
  const ownLogDir = opts.logFile === undefined ? makeTempDir(`${opts.name}-log`) : undefined
  const logFile = opts.logFile ?? join(ownLogDir!, "server.log")
  const fd = openSync(logFile, "a")
  let child: ReturnType<typeof Bun.spawn>
  try {
    child = Bun.spawn(withParentDeathSignal(opts.cmd), {
      cwd: opts.cwd ?? tmpdir(),
      env: { ...process.env, ...opts.env },
      stdin: "ignore",
      stdout: fd,
      stderr: fd,
    })
  } finally {
    closeSync(fd)
  }
  const ports = opts.ports ?? []
  let exitCode: number | null | undefined
  const exited = child.exited.then((code) => {
    exitCode = child.signalCode ? null : code
    live.delete(child.pid)
    return exitCode
  })
  const waitPorts = () => Promise.all(ports.map((p) => waitForPortFree(p)))
  const finish = async () => {
    await waitPorts()
    if (ownLogDir) removeTempDir(ownLogDir)
  }

  const sp: ServerProcess = {
    name: opts.name,
    pid: child.pid,
    logFile,
    ports,
    exited,
    alive: () => exitCode === undefined,
    logTail(lines = 30) {
      if (!existsSync(logFile)) return "(no log)"
      return readFileSync(logFile, "utf8").split("\n").slice(-lines - 1).join("\n")
    },
    async stop(timeoutMs = 10_000) {
      if (exitCode === undefined) {
        child.kill("SIGTERM")
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
        await exited
        clearTimeout(timer)
      }
      await finish()
    },
    async kill9() {
      if (exitCode === undefined) {
        child.kill("SIGKILL")
        await exited
      }
      await finish()
    },
  }
  live.set(child.pid, sp)
  return sp
}

export interface WaitOptions {
  timeoutMs?: number
  intervalMs?: number
  /** Fails the wait early (e.g. the server died); returns a reason or undefined. */
  abortIf?: () => string | undefined
}

/** Polls `fn` until it returns a value other than undefined; bounded by `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, opts: WaitOptions = {}): Promise<T> {
  const { timeoutMs = 10_000, intervalMs = 15 } = opts
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    const reason = opts.abortIf?.()
    if (reason) throw new Error(`${what}: ${reason}`)
    try {
      const v = await fn()
      if (v !== undefined) return v
    } catch (e) {
      lastError = e
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : ""
      throw new Error(`${what}: timed out after ${timeoutMs} ms${detail}`)
    }
    await Bun.sleep(intervalMs)
  }
}

/** Polls `url` until `predicate(status, body)` holds. */
export async function waitForHttp(
  url: string,
  predicate: (status: number, body: string) => boolean = (s) => s >= 200 && s < 300,
  timeoutMs = 10_000,
  opts: Omit<WaitOptions, "timeoutMs"> = {},
): Promise<void> {
  await waitFor(
    `waiting for ${url}`,
    async () => {
      // Short per-request timeout: etcd's /health hangs, rather than failing, until there is a leader.
      const res = await fetch(url, { signal: AbortSignal.timeout(Math.min(500, timeoutMs)) })
      const body = await res.text()
      if (predicate(res.status, body)) return true
      // Keep the latest answer, so a timeout says what the server said rather than an old refusal.
      throw new Error(`HTTP ${res.status}: ${body.slice(0, 200)}`)
    },
    { ...opts, timeoutMs },
  )
}

/** abortIf hook for waits on a server's readiness: stop early, with its log, if it died. */
export const diedWith = (sp: ServerProcess) => () =>
  sp.alive() ? undefined : `${sp.name} (pid ${sp.pid}) exited during start-up; log:\n${sp.logTail()}`

const PORT_CLASH = /address already in use|EADDRINUSE/i

/**
 * Runs a server start-up, retrying with fresh ports when the failure was a port clash
 * (free ports are only free until someone else binds them).
 */
export async function retryOnPortClash<T>(start: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1;; i++) {
    try {
      return await start()
    } catch (e) {
      if (i >= attempts || !(e instanceof Error && PORT_CLASH.test(e.message))) throw e
    }
  }
}
