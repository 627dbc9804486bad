import * as fs from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { ConnectionTimeouts } from "./connections"
import { type Http1Watch, watchHttp1 } from "./frontTimers"
import { frontAnswer } from "./http1Frames"
import { type LocalConnection, type LocalServe, makeLocalConnection } from "./frontLocal"

/**
 * The plaintext front of the one-port server. Bun's `node:http` is fast only when it owns its
 * listening socket (native parser); handing it sockets from a `node:net` sniffer doubled the CPU
 * per request (docs/benchmarks.md). So the public port is a native `Bun.listen` that looks at
 * the first bytes of each connection and splices it to one of two internal servers on unix
 * sockets: the HTTP/2 server when the client opens with the h2c preface ("PRI * HTTP/2.0"),
 * Bun.serve otherwise. HTTP/1.1 connections are followed message by message (frontTimers.ts)
 * for the connection timers and the 100-continue refusal, which Bun.serve does not have.
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
  /** A client speaking HTTP/1.1 (on the client side only). */
  h1: Http1Watch | undefined
  /** Requests answered on the front itself, until the first one that is not (frontLocal.ts). */
  local: LocalConnection | undefined
  /** The first bytes have told the protocol (until then they are kept in `early`). */
  sniffed: boolean
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
 * A copy of a chunk Bun will reuse after the callback: `new Uint8Array(chunk)` is a memcpy.
 * (`Uint8Array.from` walks the iterator protocol byte by byte: ~60 ms of event loop per 2 MB
 * body; and `Buffer#slice` is a view, not a copy.)
 */
const copyOf = (chunk: Uint8Array): Uint8Array => new Uint8Array(chunk)

const newSide = (): Side => ({
  peer: undefined,
  queue: [],
  queued: 0,
  early: [],
  closed: false,
  pausedPeer: false,
  h1: undefined,
  local: undefined,
  sniffed: false,
})

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
  state.local?.drained()
  // The peer closed while this side still had bytes to write: now they are written.
  if (state.closed) s.end()
}

/**
 * Answers written by the front are sent together once the current turn of the event loop has run
 * its I/O callbacks (as uWebSockets corks Bun.serve's): on loopback, a send to a client that is
 * waiting also wakes it, and measured with wrk -c50 a socket write took 6-8 µs one by one against
 * 4-6 µs batched (docs/benchmarks.md). Each connection's answers keep their order.
 */
const answerBatch = (write: (client: Bun.Socket<Side>, bytes: Uint8Array | undefined) => void) => {
  let clients: Array<Bun.Socket<Side>> = []
  /** An answer, or undefined: end the connection (after the answers before it). */
  let answers: Array<Uint8Array | undefined> = []
  const flush = () => {
    const c = clients
    const a = answers
    clients = []
    answers = []
    for (let i = 0; i < c.length; i++) write(c[i]!, a[i])
  }
  return {
    add: (client: Bun.Socket<Side>, bytes: Uint8Array | undefined) => {
      if (clients.length === 0) setImmediate(flush)
      clients.push(client)
      answers.push(bytes)
    },
    /** Before a connection is passed on: what it was answered goes first. */
    flush,
  }
}

/** After the upstream closed, a client still sending (a refused body) is read for this long. */
const LINGER_MS = 1000

const close = (s: Bun.Socket<Side>) => {
  if (s.data.closed) return
  s.data.closed = true
  const peer = s.data.peer
  if (peer && !peer.data.closed) {
    // Let the peer finish writing what it already has, then close.
    if (peer.data.queue.length === 0) linger(peer)
    else peer.data.closed = true
  }
}

/**
 * Ends our side of a connection but keeps reading (and dropping) for a moment: closing a socket
 * with unread data makes the kernel send a reset, and a client still sending a refused body
 * (413, 408) would see "connection reset" instead of the answer.
 */
const linger = (s: Bun.Socket<Side>) => {
  s.data.closed = true
  s.shutdown()
  setTimeout(() => s.end(), LINGER_MS).unref?.()
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

const busy = frontAnswer("503 Service Unavailable", "unavailable", "too many open connections; retry shortly")

export interface ProxyFront {
  readonly port: number
  /** Stop accepting new connections; idle keep-alive ones are closed, busy ones after their answer. */
  readonly stopAccepting: () => void
  /** Cut every connection. */
  readonly closeAll: () => void
  /** Some HTTP/1.1 request has arrived whose answer has not been passed on yet. */
  readonly busy: () => boolean
}

/** A private folder for the internal unix sockets (removed by `removeSocketDir`). */
export const makeSocketDir = () => {
  sweepStaleSocketDirs()
  const dir = fs.mkdtempSync(join(tmpdir(), `oprc-front-${process.pid}-`))
  return {
    h1Path: join(dir, "h1.sock"),
    h2Path: join(dir, "h2.sock"),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  }
}

export const startProxyFront = (options: {
  readonly host: string
  readonly port: number
  /** Unix sockets already listening: Bun.serve (HTTP/1.1) and node:http2 (h2c). */
  readonly h1Path: string
  readonly h2Path: string
  /** Connections beyond this are answered 503 and closed at once. */
  readonly maxConnections: number
  readonly timeouts: ConnectionTimeouts
  readonly bodyLimitBytes: number
  /** HTTP/1.1 requests answered on the front (none when absent). */
  readonly local?: {
    readonly serve: LocalServe
    /** Bodies of at least this many bytes go to Bun.serve. */
    readonly maxBodyBytes: number
    readonly onFailure: (reason: unknown) => void
  }
}): ProxyFront => {
  const clients = new Set<Bun.Socket<Side>>()
  let draining = false

  const upstreamHandlers: Bun.SocketHandler<Side> = {
    data: (up, chunk) => {
      const client = up.data.peer
      if (client === undefined) return
      send(client, chunk)
      // After the bytes are on their way: the end of an answer may close the connection.
      client.data.h1?.fromServer(chunk)
    },
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

  /** Starts following an HTTP/1.1 client (its timers, its 100-continue refusals). */
  const watch = (client: Bun.Socket<Side>) =>
    watchHttp1({
      timeouts: options.timeouts,
      bodyLimitBytes: options.bodyLimitBytes,
      draining: () => draining,
      answer: (bytes) => {
        // The front answers in the upstream's place: nothing more goes upstream, and the client
        // is read (and dropped) for a moment before the close, as after any refused body. The
        // upstream is let go first: its close would otherwise shut the client down before this
        // answer is written (a refusal pipelined behind an answered request was lost so).
        const up = client.data.peer
        client.data.peer = undefined
        if (up !== undefined) {
          up.data.peer = undefined
          up.end()
        }
        client.data.early = []
        send(client, bytes)
        linger(client)
      },
      close: () => {
        client.data.peer?.end()
        // Bytes still queued for the client are written first (flush ends it then).
        if (client.data.queue.length === 0) client.end()
        client.data.closed = true
      },
      cut: () => client.terminate(),
    })

  const batch = answerBatch((client, bytes) => {
    if (bytes === undefined) {
      // Bytes still queued for the client are written first (flush ends it then).
      if (client.data.queue.length === 0) client.end()
      client.data.closed = true
      return
    }
    send(client, bytes)
    // After the bytes are on their way, as for Bun.serve's answers.
    client.data.h1?.answered()
  })

  const serveLocally = (client: Bun.Socket<Side>, local: NonNullable<typeof options.local>) =>
    makeLocalConnection({
      serve: local.serve,
      maxBodyBytes: local.maxBodyBytes,
      draining: () => draining,
      write: (bytes) => {
        batch.add(client, bytes)
        return client.data.queued + bytes.length
      },
      end: () => {
        client.data.local = undefined
        batch.add(client, undefined)
      },
      pause: () => client.pause(),
      resume: () => client.resume(),
      passOn: (rest) => {
        batch.flush()
        client.data.local = undefined
        if (rest.length > 0) client.data.early.push(rest)
        void connectUpstream(client, options.h1Path)
      },
      onFailure: local.onFailure,
    })

  const forward = (client: Bun.Socket<Side>, chunk: Uint8Array) => {
    const state = client.data
    if (state.h1 !== undefined) {
      const n = state.h1.fromClient(chunk)
      if (n < chunk.length) chunk = chunk.subarray(0, n)
      if (chunk.length === 0) return
    }
    if (state.local !== undefined) return state.local.feed(chunk)
    if (state.peer) return send(state.peer, chunk)
    if (state.closed) return
    state.early.push(copyOf(chunk))
  }

  const listener = Bun.listen<Side>({
    hostname: options.host,
    port: options.port,
    socket: {
      open: (client) => {
        client.data = newSide()
        if (clients.size >= options.maxConnections || draining) {
          client.data.closed = true
          client.write(busy)
          return void client.end()
        }
        clients.add(client)
      },
      data: (client, chunk) => {
        const state = client.data
        if (state.closed) return
        if (state.sniffed) {
          forward(client, chunk)
          const before = state.early.reduce((n, c) => n + c.length, 0)
          // Until the upstream connection is open, take no more than a first window.
          if (state.peer === undefined && before > HIGH_WATER) client.pause()
          return
        }
        // The first three bytes decide the protocol ("PRI" vs an HTTP/1 method). (Clients send
        // more than three bytes in their first write; fewer are kept until there are three.)
        state.early.push(copyOf(chunk))
        const first = Buffer.concat(state.early)
        if (first.length < 3) return
        state.early = []
        state.sniffed = true
        const h2 = first.toString("latin1", 0, 3) === "PRI"
        if (!h2) state.h1 = watch(client)
        if (!h2 && options.local !== undefined) {
          // The upstream connection is opened only when a request is passed on.
          state.local = serveLocally(client, options.local)
          return forward(client, first)
        }
        forward(client, first)
        void connectUpstream(client, h2 ? options.h2Path : options.h1Path)
      },
      drain: flush,
      close: (client) => {
        clients.delete(client)
        client.data.h1?.stop()
        client.data.local?.gone()
        close(client)
      },
      end: close,
      error: (client) => client.data.peer?.terminate(),
    },
  })
  const sweep = setInterval(() => {
    const now = performance.now()
    for (const c of clients) c.data.h1?.tick(now)
  }, 100)
  sweep.unref?.()

  let stopped = false
  return {
    port: listener.port,
    stopAccepting: () => {
      if (!stopped) listener.stop(false)
      stopped = true
      draining = true
      for (const c of clients) c.data.h1?.drain()
    },
    busy: () => {
      for (const c of clients) if (c.data.h1?.busy() === true) return true
      return false
    },
    closeAll: () => {
      if (!stopped) listener.stop(true)
      stopped = true
      clearInterval(sweep)
      for (const c of clients) c.terminate()
    },
  }
}
