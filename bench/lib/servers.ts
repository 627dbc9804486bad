// What the benchmarks start and measure besides wrk: bench servers, free ports, a process's CPU time.
import { readFileSync } from "node:fs"

/** Spawns a bench server (a bun script printing nothing special) and waits for its port. */
export const startBenchServer = async (
  script: string,
  port: number,
  env: Record<string, string> = {},
  ready: "http" | "tcp" = "http",
) => {
  const proc = Bun.spawn([process.execPath, script], {
    env: { ...process.env, PORT: String(port), ...env },
    stdout: "ignore",
    stderr: "inherit",
  })
  const deadline = Date.now() + 15_000
  const probe = ready === "http"
    ? () => fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(300) }).then(() => true, () => false)
    // An h2c-only server answers nothing to HTTP/1.1: accepting the connection is the sign.
    : () =>
      Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then((s) => (s.end(), true), () => false)
  for (;;) {
    const up = await probe()
    if (up) break
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`${script} did not start`)
    await Bun.sleep(50)
  }
  return {
    pid: proc.pid,
    stop: async () => {
      proc.kill("SIGTERM")
      await proc.exited
    },
  }
}

export const freePort = async (): Promise<number> => {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } })
  const port = s.port
  s.stop(true)
  return port
}

/** CPU time (user + system, ms) a process has used so far: robust to other load on the machine. */
export const cpuMs = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  const ticks = Number(fields[11]) + Number(fields[12])
  return (ticks * 1000) / 100
}
