import { spawn as spawnChild } from "node:child_process"
import { accessSync, closeSync, constants, statSync } from "node:fs"
import { createServer } from "node:net"
import { delimiter, isAbsolute, join, resolve } from "node:path"
import { Context, Deferred, Duration, Effect, Layer, Schema } from "effect"
import { openLog } from "./logs"
import { isAlive, startTicks } from "./procfs"

/** A function process could not be started; `reason` says why in words. */
export class SpawnError extends Schema.TaggedError<SpawnError>()("SpawnError", { reason: Schema.String }) {
  override get message(): string {
    return this.reason
  }
}

export interface SpawnSpec {
  readonly argv: ReadonlyArray<string>
  readonly cwd: string
  readonly env: Readonly<Record<string, string>>
  readonly stdoutFile: string
  readonly stderrFile: string
}

interface ExitInfo {
  readonly code: number | null
  readonly signal: string | null
}

export interface Spawned {
  readonly pid: number
  readonly ticks: string
  /** Completes when the process exits. */
  readonly exit: Deferred.Deferred<ExitInfo>
}

const executable = (file: string) => {
  try {
    accessSync(file, constants.X_OK)
    return statSync(file).isFile()
  } catch {
    return false
  }
}

const isDirectory = (dir: string) => {
  try {
    return statSync(dir).isDirectory()
  } catch {
    return false
  }
}

/**
 * argv[0] as a path: a name with a slash is relative to the working dir; a bare name is looked up
 * like an npm script does, on PATH and then in <cwd>/node_modules/.bin (so `bun` works from a
 * clone where bun is only a dev dependency).
 */
export const resolveCommand = (name: string, cwd: string, path: string): string | undefined => {
  if (name.includes("/")) {
    const file = isAbsolute(name) ? name : resolve(cwd, name)
    return executable(file) ? file : undefined
  }
  const dirs = [...path.split(delimiter).filter((d) => d !== ""), join(cwd, "node_modules", ".bin")]
  for (const d of dirs) {
    const file = join(d, name)
    if (executable(file)) return file
  }
  return undefined
}

/**
 * Local OS processes for the process driver. Wraps node:child_process rather than
 * effect/process's ChildProcess on purpose: replicas must outlive a CRM crash (they are adopted
 * by the next CRM), so they run detached in their own process group with stdout/stderr written
 * straight to log files; effect/process ties a child to a scope and its output to pipes.
 */
export class Processes extends Context.Service<Processes, {
  readonly spawn: (spec: SpawnSpec) => Effect.Effect<Spawned, SpawnError>
  /** SIGTERM to the process group, SIGKILL after graceMs; returns once the process is gone. */
  readonly stop: (pid: number, ticks: string, graceMs: number) => Effect.Effect<void>
  readonly alive: (pid: number, ticks: string) => Effect.Effect<boolean>
  /** A port nobody listens on right now (the kernel picks it). */
  readonly freePort: (host: string) => Effect.Effect<number, SpawnError>
  readonly portFree: (host: string, port: number) => Effect.Effect<boolean>
}>()("crm/Processes") {
  static readonly layer: Layer.Layer<Processes> = Layer.sync(Processes)(() => {
    const listenOn = (host: string, port: number) =>
      Effect.callback<number, SpawnError>((resume) => {
        const server = createServer()
        server.once("error", (e) =>
          resume(Effect.fail(new SpawnError({ reason: `port ${port} on ${host}: ${e.message}` }))))
        server.listen({ host, port, exclusive: true }, () => {
          const address = server.address()
          const bound = typeof address === "object" && address !== null ? address.port : 0
          server.close(() =>
            resume(Effect.succeed(bound))
          )
        })
      })

    const signalGroup = (pid: number, signal: NodeJS.Signals) => {
      try {
        process.kill(-pid, signal)
      } catch {
        try {
          process.kill(pid, signal)
        } catch {
          // already gone
        }
      }
    }

    const waitGone = (pid: number, ticks: string, ms: number) =>
      Effect.gen(function*() {
        const until = Date.now() + ms
        while (isAlive(pid, ticks) && Date.now() < until) yield* Effect.sleep(Duration.millis(25))
        return !isAlive(pid, ticks)
      })

    return {
      spawn: (spec) =>
        Effect.gen(function*() {
          const [name = "", ...args] = spec.argv
          if (!isDirectory(spec.cwd)) {
            return yield* new SpawnError({ reason: `working directory ${spec.cwd} does not exist` })
          }
          const file = resolveCommand(name, spec.cwd, spec.env.PATH ?? "")
          if (file === undefined) {
            return yield* new SpawnError({
              reason: `command \`${name}\` was not found (looked on PATH and in ${
                join(spec.cwd, "node_modules", ".bin")
              })`,
            })
          }
          const exit = yield* Deferred.make<ExitInfo>()
          const pid = yield* Effect.try({
            try: () => {
              const out = openLog(spec.stdoutFile)
              const err = openLog(spec.stderrFile)
              try {
                const child = spawnChild(file, args, {
                  cwd: spec.cwd,
                  env: spec.env,
                  stdio: ["ignore", out, err],
                  detached: true,
                })
                child.once("exit", (code, signal) => Deferred.doneUnsafe(exit, Effect.succeed({ code, signal })))
                child.once("error", (e) => Deferred.doneUnsafe(exit, Effect.succeed({ code: null, signal: e.message })))
                child.unref()
                if (child.pid === undefined) throw new Error("the OS gave no process id")
                return child.pid
              } finally {
                closeSync(out)
                closeSync(err)
              }
            },
            catch: (e) =>
              new SpawnError({
                reason: `cannot start \`${spec.argv.join(" ")}\`: ${e instanceof Error ? e.message : String(e)}`,
              }),
          })
          const ticks = startTicks(pid)
          if (ticks === undefined) {
            const info = yield* Deferred.await(exit).pipe(Effect.timeoutOption(Duration.millis(200)))
            const why = info._tag === "Some" ? ` (exit code ${info.value.code ?? info.value.signal})` : ""
            return yield* new SpawnError({ reason: `\`${spec.argv.join(" ")}\` exited immediately${why}` })
          }
          return { pid, ticks, exit }
        }),
      stop: (pid, ticks, graceMs) =>
        Effect.gen(function*() {
          if (!isAlive(pid, ticks)) return
          signalGroup(pid, "SIGTERM")
          if (yield* waitGone(pid, ticks, graceMs)) return
          signalGroup(pid, "SIGKILL")
          yield* waitGone(pid, ticks, 2000)
        }),
      alive: (pid, ticks) => Effect.sync(() => isAlive(pid, ticks)),
      freePort: (host) => listenOn(host, 0),
      portFree: (host, port) => listenOn(host, port).pipe(Effect.as(true), Effect.catch(() => Effect.succeed(false))),
    }
  })
}
