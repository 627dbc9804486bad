import * as fs from "node:fs"
import type * as http from "node:http"
import type * as http2 from "node:http2"
import { tmpdir } from "node:os"
import { join } from "node:path"

/**
 * The plaintext front of the one-port server. Bun's `node:http` is fast only when it owns its
 * listening socket (native parser); handing it sockets from a `node:net` sniffer doubled the CPU
 * per request (docs/benchmarks.md). So the public port is a native `Bun.listen` that looks at
 * the first bytes of each connection and splices it to one of two internal servers on unix
 * sockets: the HTTP/2 server when the client opens with the h2c preface ("PRI * HTTP/2.0"),
 * the HTTP/1.1 server otherwise. Both run the same handler.
 */

interface Side {
  peer: Bun.Socket<Side> | undefined
  /** Bytes the peer could not take yet (written on its next drain). */
  queue: Array<Uint8Array>
  queued: number
  /** Bytes read before the peer connection existed. */
  early: Array<Uint8Array>
  closed: boolean
  /** This side's peer was paused because this side could not take its bytes. */
  pausedPeer: boolean
}

/** A peer that stops reading must not make us buffer without bound. */
const MAX_QUEUED = 16 * 1024 * 1024
/**
 * Beyond this many queued bytes the sending side is paused (TCP backpressure to the client)
 * until the queue drains: without it, 100 clients each sending a 4 MB body faster than the
 * server reads it had ~400 MB sitting in these queues.
 */
const HIGH_WATER = 256 * 1024

/**
 * A copy of a chunk Bun will reuse after the callback. `slice()` is a memcpy; `Uint8Array.from`
 * walks the iterator protocol byte by byte (a 2 MB body took ~60 ms of the event loop in it).
 */
const copyOf = (chunk: Uint8Array): Uint8Array => chunk.slice()

const newSide = (): Side => ({ peer: undefined, queue: [], queued: 0, early: [], closed: false, pausedPeer: false })

const send = (to: Bun.Socket<Side>, data: Uint8Array) => {
  const state = to.data
  if (state.closed) return
  if (state.queue.length > 0) {
    state.queue.push(copyOf(data))
    state.queued += data.length
  } else {
    const n = to.write(data)
    if (n < data.length) {
      const rest = copyOf(data.subarray(Math.max(n, 0)))
      state.queue.push(rest)
      state.queued += rest.length
    }
  }
  if (state.queued > MAX_QUEUED) {
    to.terminate()
    state.peer?.terminate()
  } else if (state.queued > HIGH_WATER && !state.pausedPeer && state.peer !== undefined) {
    state.pausedPeer = true
    state.peer.pause()
  }
}

const flush = (s: Bun.Socket<Side>) => {
  const state = s.data
  while (state.queue.length > 0) {
    const head = state.queue[0]!
    const n = s.write(head)
    if (n < head.length) {
      state.queue[0] = head.subarray(Math.max(n, 0))
      state.queued -= Math.max(n, 0)
      return
    }
    state.queue.shift()
    state.queued -= head.length
  }
  if (state.pausedPeer) {
    state.pausedPeer = false
    state.peer?.resume()
  }
}

const close = (s: Bun.Socket<Side>) => {
  if (s.data.closed) return
  s.data.closed = true
  const peer = s.data.peer
  if (peer && !peer.data.closed) {
    // Let the peer finish writing what it already has, then close.
    if (peer.data.queue.length === 0) peer.end()
    else peer.data.closed = true
  }
}

/** A SIGKILLed server cannot remove its socket folder; the next start removes those of dead PIDs. */
const sweepStaleSocketDirs = () => {
  for (const name of fs.readdirSync(tmpdir())) {
    const pid = /^oprc-front-(\d+)-/.exec(name)?.[1]
    if (pid === undefined || Number(pid) === process.pid) continue
    try {
      process.kill(Number(pid), 0)
    } catch (e) {
      // ESRCH: no such process. (EPERM means it lives under another user: leave it.)
      if ((e as { code?: string }).code === "ESRCH") fs.rmSync(join(tmpdir(), name), { recursive: true, force: true })
    }
  }
}

const busyBody = JSON.stringify({ error: { code: "unavailable", message: "too many open connections; retry shortly" } })
/** The answer to a connection over the limit (HTTP/1, which is what curl and browsers speak first). */
const busy = new TextEncoder().encode(
  `HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: ${busyBody.length}\r\nconnection: close\r\n\r\n${busyBody}`,
)

export interface ProxyFront {
  readonly port: number
  /** Stop accepting new connections (existing ones keep working). */
  readonly stopAccepting: () => void
  /** Cut every connection and remove the internal sockets. */
  readonly closeAll: () => void
}

export const startProxyFront = async (options: {
  readonly host: string
  readonly port: number
  readonly h1: http.Server
  readonly h2: http2.Http2Server
  /** Connections beyond this are answered 503 and closed at once. */
  readonly maxConnections: number
}): Promise<ProxyFront> => {
  sweepStaleSocketDirs()
  const dir = fs.mkdtempSync(join(tmpdir(), `oprc-front-${process.pid}-`))
  const h1Path = join(dir, "h1.sock")
  const h2Path = join(dir, "h2.sock")
  await Promise.all([
    new Promise<void>((resolve, reject) => options.h1.once("error", reject).listen(h1Path, () => resolve())),
    new Promise<void>((resolve, reject) => options.h2.once("error", reject).listen(h2Path, () => resolve())),
  ])
  const clients = new Set<Bun.Socket<Side>>()

  const upstreamHandlers: Bun.SocketHandler<Side> = {
    data: (up, chunk) => up.data.peer && send(up.data.peer, chunk),
    drain: flush,
    close: close,
    end: close,
    error: (up) => up.data.peer?.terminate(),
  }

  const connectUpstream = async (client: Bun.Socket<Side>, path: string) => {
    const side = newSide()
    side.peer = client
    try {
      const up = await Bun.connect<Side>({ unix: path, data: side, socket: upstreamHandlers })
      if (client.data.closed) return up.end()
      client.data.peer = up
      for (const chunk of client.data.early) send(up, chunk)
      client.data.early = []
      client.resume()
    } catch {
      client.terminate()
    }
  }

  const listener = Bun.listen<Side>({
    hostname: options.host,
    port: options.port,
    socket: {
      open: (client) => {
        client.data = newSide()
        if (clients.size >= options.maxConnections) {
          client.data.closed = true
          client.write(busy)
          return void client.end()
        }
        clients.add(client)
      },
      data: (client, chunk) => {
        const state = client.data
        if (state.peer) return send(state.peer, chunk)
        if (state.closed) return
        const before = state.early.reduce((n, c) => n + c.length, 0)
        state.early.push(copyOf(chunk))
        // Until the upstream connection is open, take no more than a first window.
        if (before + chunk.length > HIGH_WATER) client.pause()
        // The first three bytes decide the protocol ("PRI" vs an HTTP/1 method); once decided,
        // later chunks wait in `early` until the upstream connection is open.
        if (before >= 3 || before + chunk.length < 3) return
        const head = Buffer.concat(state.early).toString("latin1", 0, 3)
        void connectUpstream(client, head === "PRI" ? h2Path : h1Path)
      },
      drain: flush,
      close: (client) => {
        clients.delete(client)
        close(client)
      },
      end: close,
      error: (client) => client.data.peer?.terminate(),
    },
  })

  let stopped = false
  return {
    port: listener.port,
    stopAccepting: () => {
      if (!stopped) listener.stop(false)
      stopped = true
    },
    closeAll: () => {
      if (!stopped) listener.stop(true)
      stopped = true
      for (const c of clients) c.terminate()
      options.h1.close()
      options.h2.close()
      fs.rmSync(dir, { recursive: true, force: true })
    },
  }
}
