import { readFileSync } from "node:fs"
import { createServer, type Server } from "node:net"

export const LOOPBACK = "127.0.0.1"

const listen = (port: number): Promise<Server> =>
  new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once("error", reject)
    srv.listen({ host: LOOPBACK, port, exclusive: true }, () => resolve(srv))
  })

const close = (srv: Server): Promise<void> => new Promise((resolve) => srv.close(() => resolve()))

/** One free loopback TCP port, below the ephemeral range (released before returning). */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1)
  return port!
}

/**
 * The kernel's ephemeral range (outgoing connections take their local port from it). Test servers
 * get ports BELOW it: a port from the ephemeral range can be taken by some client's outgoing
 * connection while its server is down, and a restart on the same port (a killed etcd member or
 * nats-server rejoining its cluster) would then fail with "address already in use".
 */
const ephemeralStart = (): number => {
  try {
    const text = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8")
    const start = Number(text.trim().split(/\s+/)[0])
    return Number.isInteger(start) && start > 12_000 ? start : 32_768
  } catch {
    return 32_768
  }
}
const RANGE_END = ephemeralStart()
const RANGE_START = 10_000

/**
 * N distinct free ports below the ephemeral range. All N sockets are held open together so no
 * port is handed out twice; another process may still grab one after release, which is why the
 * server starters retry on "address already in use".
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = []
  try {
    for (let tries = 0; servers.length < n; tries++) {
      if (tries > 2000) throw new Error(`no ${n} free ports in ${RANGE_START}-${RANGE_END}`)
      const port = RANGE_START + Math.floor(Math.random() * (RANGE_END - RANGE_START))
      const srv = await listen(port).catch(() => undefined)
      if (srv) servers.push(srv)
    }
    return servers.map((s) => {
      const addr = s.address()
      if (addr === null || typeof addr === "string") throw new Error("unexpected socket address")
      return addr.port
    })
  } finally {
    await Promise.all(servers.map(close))
  }
}

/** True when nothing listens on 127.0.0.1:port (a bind succeeds). */
export async function isPortFree(port: number): Promise<boolean> {
  try {
    await close(await listen(port))
    return true
  } catch {
    return false
  }
}

export async function waitForPortFree(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await isPortFree(port))) {
    if (Date.now() > deadline) throw new Error(`port ${port} still in use after ${timeoutMs} ms`)
    await Bun.sleep(20)
  }
}
