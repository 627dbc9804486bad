/**
 * A bounded closed-loop load generator: `concurrency` callers invoking `work` through ODGM's
 * REST gateway back to back until `durationMs` has passed or `stop` fires. Returns calls,
 * failures and calls per answering process.
 */
export const load = async (
  odgmUrl: string,
  concurrency: number,
  durationMs: number,
  cls = "nfr.Worker",
  stop?: AbortSignal,
) => {
  const deadline = Date.now() + durationMs
  const running = () => Date.now() < deadline && !stop?.aborted
  let ok = 0
  let failed = 0
  const pids = new Map<number, number>()
  const caller = async () => {
    while (running()) {
      try {
        const res = await fetch(`${odgmUrl}/api/class/${cls}/0/invokes/work`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "{}",
          signal: AbortSignal.timeout(5000),
        })
        const body = (await res.json()) as { pid?: number }
        if (res.ok) {
          ok++
          if (typeof body.pid === "number") pids.set(body.pid, (pids.get(body.pid) ?? 0) + 1)
        } else failed++
      } catch {
        failed++
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, caller))
  return { ok, failed, pids }
}
