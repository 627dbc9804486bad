import { createServer, type Server } from "node:net"

export const LOOPBACK = "127.0.0.1"

const listen = (port: number): Promise<Server> =>
  new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once("error", reject)
    srv.listen({ host: LOOPBACK, port, exclusive: true }, () => resolve(srv))
  })

const close = (srv: Server): Promise<void> => new Promise((resolve) => srv.close(() => resolve()))

/** One free loopback TCP port (the kernel picks it; it is released before returning). */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1)
  return port!
}

/**
 * N distinct free ports. All N sockets are held open together so the kernel cannot hand out
 * the same port twice; another process may still grab one after release, which is why the
 * server starters retry on "address already in use".
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = []
  try {
    for (let i = 0; i < n; i++) servers.push(await listen(0))
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
