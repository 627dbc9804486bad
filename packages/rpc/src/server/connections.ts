import type * as http from "node:http"
import type * as http2 from "node:http2"
import type * as net from "node:net"

/**
 * Connection timeouts of the one-port server. Bun's node:http ignores `requestTimeout` and does
 * not apply `keepAliveTimeout` reliably (measured: trickled bodies and idle keep-alive
 * connections stayed open 90 s+), so the server keeps its own timer per connection:
 * - a new connection has `headersTimeoutMs` to complete its first request's headers;
 * - a request has `bodyTimeoutMs` to send its whole body (then 408 and close);
 * - between requests, a keep-alive connection is closed after `idleTimeoutMs`.
 * A request being answered is never cut: the handler's own deadline bounds it.
 */
export interface ConnectionTimeouts {
  readonly headersTimeoutMs: number
  readonly bodyTimeoutMs: number
  readonly idleTimeoutMs: number
}

interface H1State {
  active: number
  timer: ReturnType<typeof setTimeout> | undefined
}

const states = new WeakMap<object, H1State>()

const rearm = (state: H1State, ms: number, socket: net.Socket) => {
  if (state.timer !== undefined) clearTimeout(state.timer)
  state.timer = setTimeout(() => socket.destroy(), ms)
  state.timer.unref?.()
}

/** Plaintext HTTP/1.1 server ("connection"), or the TLS server's HTTP/1.1 connections (ALPN). */
export const guardHttp1 = (server: http.Server | http2.Http2SecureServer, t: ConnectionTimeouts) => {
  const event = "setSecureContext" in server ? "secureConnection" : "connection"
  server.on(event, (socket: net.Socket & { alpnProtocol?: string | false }) => {
    // An HTTP/2 connection over TLS is guarded per session (guardHttp2), not per socket.
    if (socket.alpnProtocol === "h2") return
    const state: H1State = { active: 0, timer: undefined }
    states.set(socket, state)
    rearm(state, t.headersTimeoutMs, socket)
    socket.once("close", () => state.timer !== undefined && clearTimeout(state.timer))
  })
}

/** Called first for every HTTP/1 request: switches the connection from idle to busy and back. */
export const trackHttp1Request = (req: http.IncomingMessage, res: http.ServerResponse, t: ConnectionTimeouts) => {
  const socket = req.socket
  const state = states.get(socket)
  if (state === undefined) return
  if (state.timer !== undefined) clearTimeout(state.timer)
  state.timer = undefined
  state.active++
  let bodyTimer: ReturnType<typeof setTimeout> | undefined
  if (!req.complete) {
    bodyTimer = setTimeout(() => {
      if (req.complete) return
      if (!res.headersSent) {
        res.writeHead(408, { "content-type": "application/json", connection: "close" })
        res.end(
          JSON.stringify({
            error: { code: "deadline_exceeded", message: `request body not received within ${t.bodyTimeoutMs} ms` },
          }),
        )
      }
      setTimeout(() => socket.destroy(), 200).unref?.()
    }, t.bodyTimeoutMs)
    bodyTimer.unref?.()
    req.once("end", () => clearTimeout(bodyTimer))
  }
  res.once("close", () => {
    if (bodyTimer !== undefined) clearTimeout(bodyTimer)
    state.active--
    if (state.active === 0 && !socket.destroyed) rearm(state, t.idleTimeoutMs, socket)
  })
}

/** HTTP/2: a session without open streams is closed after the idle timeout (gracefully: GOAWAY). */
export const guardHttp2 = (server: http2.Http2Server | http2.Http2SecureServer, t: ConnectionTimeouts) => {
  server.on("session", (session: http2.Http2Session) => {
    let open = 0
    let timer: ReturnType<typeof setTimeout> | undefined
    const arm = (ms: number) => {
      timer = setTimeout(() => session.close(), ms)
      timer.unref?.()
    }
    arm(t.headersTimeoutMs)
    session.on("stream", (stream: http2.ServerHttp2Stream) => {
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
      open++
      stream.once("close", () => {
        open--
        if (open === 0 && !session.closed && !session.destroyed) arm(t.idleTimeoutMs)
      })
    })
    session.once("close", () => timer !== undefined && clearTimeout(timer))
  })
}
