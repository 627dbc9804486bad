import * as net from "node:net"

/** The first group of `pattern` in the text at `metricsUrl` (a counter's value), 0 when absent. */
export const metricCount = async (metricsUrl: string, pattern: RegExp): Promise<number> =>
  Number(pattern.exec(await (await fetch(metricsUrl)).text())?.[1] ?? 0)

/**
 * A client that sends `request` on a raw connection, hangs up after `leaveAfterMs` and watches
 * the counter `pattern` at `metricsUrl` (the server's count of calls cut short) for `withinMs`:
 * the counter before and after. Counted from its own start, so a call an earlier test left
 * cannot make it pass.
 */
export const leaveMidCall = async (o: {
  readonly host: string
  readonly port: number
  readonly request: string
  readonly metricsUrl: string
  readonly pattern: RegExp
  readonly leaveAfterMs: number
  readonly withinMs: number
}): Promise<{ readonly before: number; readonly after: number }> => {
  const count = () => metricCount(o.metricsUrl, o.pattern)
  const before = await count()
  const socket = net.connect(o.port, o.host, () => socket.write(o.request))
  socket.on("error", () => {})
  await Bun.sleep(o.leaveAfterMs)
  socket.destroy()
  const left = performance.now()
  let after = await count()
  while (after === before && performance.now() - left < o.withinMs) {
    await Bun.sleep(50)
    after = await count()
  }
  return { before, after }
}
