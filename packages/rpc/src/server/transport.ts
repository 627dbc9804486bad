import * as fs from "node:fs"
import type * as http from "node:http"
import * as http2 from "node:http2"
import type * as net from "node:net"
import { Effect, Schema } from "effect"
import type { ServerOptions } from "./Server"
import { type ConnectionTimeouts, guardHttp1, guardHttp2 } from "./connections"
import { makeSocketDir, type ProxyFront, startProxyFront } from "./front"
import type { RestResponse } from "./rest"

// Node plumbing of the one-port server: the listening sockets, drain, body reading, replies.

export class ServerStartError extends Schema.TaggedError<ServerStartError>()("ServerStartError", {
  reason: Schema.String,
}) {
  override get message(): string {
    return this.reason
  }
}

export type NodeReq = http.IncomingMessage | http2.Http2ServerRequest

/** The part of http/http2 responses used here (their full union has incompatible overloads). */
export interface NodeRes {
  readonly headersSent: boolean
  writeHead(status: number, headers?: Record<string, string>): unknown
  end(data?: string | Uint8Array): unknown
  setHeader(name: string, value: string): unknown
  on(event: "close", listener: () => void): unknown
}

const internalError = JSON.stringify({ error: { code: "internal", message: "internal error" } })

export interface Servers {
  /** Binds the public port; resolves with the bound port. */
  readonly listen: () => Promise<number>
  readonly stopAccepting: () => void
  readonly closeAll: () => void
  readonly sessions: Set<http2.Http2Session>
  /** Requests the front has passed on and not seen answered (HTTP/1.1 on the plaintext port). */
  readonly busy: () => boolean
}

export const makeServers = (
  options: ServerOptions,
  timeouts: ConnectionTimeouts & { readonly maxConnections: number },
  handleAny: (req: NodeReq, res: NodeRes) => void,
  handleFetch: (req: Request) => Response | Promise<Response>,
  /** HTTP/1.1 requests the plaintext front answers itself (frontLocal.ts). */
  local?: NonNullable<Parameters<typeof startProxyFront>[0]["local"]>,
) =>
  Effect.try({
    try: (): Servers => {
      // One handler serves both protocols; it only uses what their request/response types share.
      const handler = handleAny as unknown as
        & http.RequestListener
        & ((req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void)
      const sessions = new Set<http2.Http2Session>()
      const trackSessions = (server: http2.Http2Server | http2.Http2SecureServer) =>
        server.on("session", (s) => {
          sessions.add(s)
          s.once("close", () => sessions.delete(s))
        })
      if (options.tls) {
        // TLS: ALPN picks h2 or http/1.1 on one node:http2 server.
        const secure = http2.createSecureServer(
          {
            cert: fs.readFileSync(options.tls.certFile),
            key: fs.readFileSync(options.tls.keyFile),
            ...(options.tls.caFile ? { ca: fs.readFileSync(options.tls.caFile) } : {}),
            requestCert: options.tls.requireClientCert ?? false,
            rejectUnauthorized: options.tls.requireClientCert ?? false,
            allowHTTP1: true,
          },
          handler,
        )
        trackSessions(secure)
        expectContinue(secure, options.bodyLimitBytes, handler)
        guardHttp2(secure, timeouts)
        guardHttp1(secure, timeouts)
        secure.maxConnections = timeouts.maxConnections
        const sockets = new Set<net.Socket>()
        secure.on("secureConnection", (s: net.Socket) => {
          sockets.add(s)
          s.once("close", () => sockets.delete(s))
        })
        return {
          sessions,
          listen: () =>
            new Promise<number>((resolve, reject) => {
              secure.once("error", reject)
              secure.listen(options.port, options.host, () => {
                const address = secure.address()
                resolve(typeof address === "object" && address !== null ? address.port : options.port)
              })
            }),
          stopAccepting: () => void secure.close(),
          busy: () => false,
          closeAll: () => sockets.forEach((s) => s.destroy()),
        }
      }
      // Plaintext: the front on the public port; HTTP/1.1 to Bun.serve, h2c to node:http2.
      const h2 = http2.createServer(handler)
      expectContinue(h2, options.bodyLimitBytes, handler)
      trackSessions(h2)
      guardHttp2(h2, timeouts)
      let front: ProxyFront | undefined
      let h1: ReturnType<typeof Bun.serve> | undefined
      const sockets = makeSocketDir()
      return {
        sessions,
        listen: async () => {
          await new Promise<void>((resolve, reject) => h2.once("error", reject).listen(sockets.h2Path, () => resolve()))
          h1 = Bun.serve(
            {
              unix: sockets.h1Path,
              fetch: handleFetch,
              // The front keeps the idle timer (Bun's would also cut requests being answered).
              idleTimeout: 0,
              // The body reader refuses at the limit with its own 413; this only stops what it never reads.
              maxRequestBodySize: options.bodyLimitBytes + 64 * 1024,
              error: () =>
                new Response(internalError, { status: 500, headers: { "content-type": "application/json" } }),
              // (bun-types list idleTimeout for TCP listeners only; Bun applies it to unix sockets too.)
            } as unknown as Parameters<typeof Bun.serve>[0],
          )
          front = startProxyFront({
            host: options.host,
            port: options.port,
            h1Path: sockets.h1Path,
            h2Path: sockets.h2Path,
            maxConnections: timeouts.maxConnections,
            timeouts,
            bodyLimitBytes: options.bodyLimitBytes,
            ...(local === undefined ? {} : { local }),
          })
          return front.port
        },
        stopAccepting: () => front?.stopAccepting(),
        busy: () => front?.busy() ?? false,
        closeAll: () => {
          front?.closeAll()
          void h1?.stop(true)
          h2.close()
          sockets.remove()
        },
      }
    },
    catch: (e) =>
      new ServerStartError({ reason: `cannot start server: ${e instanceof Error ? e.message : String(e)}` }),
  })

/**
 * `Expect: 100-continue`: a body declared larger than the limit gets 413 before the client sends
 * it (not "100 Continue" and then a reset); anything else is told to continue and handled.
 */
const expectContinue = (
  server: http.Server | http2.Http2Server | http2.Http2SecureServer,
  limit: number,
  handler: (req: never, res: never) => void,
) =>
  server.on("checkContinue", (req: NodeReq, res: NodeRes & { writeContinue: () => void }) => {
    if (Number(req.headers["content-length"] ?? "0") > limit) {
      const body = JSON.stringify({
        error: { code: "resource_exhausted", message: `request body is larger than the limit of ${limit} bytes` },
      })
      res.writeHead(413, {
        "content-type": "application/json",
        ...(req.httpVersionMajor === 1 ? { connection: "close" } : {}),
      })
      return void res.end(body)
    }
    res.writeContinue()
    handler(req as never, res as never)
  })

/**
 * Calls in flight, with a latch that opens when the count reaches zero: drain waits on it
 * (bounded by the grace period) instead of polling the count.
 */
export interface InFlight {
  readonly start: () => void
  readonly end: () => void
  /** Resolves as soon as no call is in flight (at once if none is). */
  readonly idle: () => Promise<void>
}

export const makeInFlight = (): InFlight => {
  let count = 0
  let waiters: Array<() => void> = []
  return {
    start: () => void count++,
    end: () => {
      if (--count > 0) return
      const open = waiters
      waiters = []
      for (const w of open) w()
    },
    idle: () => (count <= 0 ? Promise.resolve() : new Promise<void>((resolve) => void waiters.push(resolve))),
  }
}

const FLUSH_WINDOW_MS = 20

/** Stop accepting, let in-flight calls finish (bounded by the grace period), then cut the rest. */
export const drain = async (servers: Servers, inFlight: InFlight, graceMs: number) => {
  servers.stopAccepting()
  for (const s of servers.sessions) s.close()
  let timer: ReturnType<typeof setTimeout> | undefined
  const graceOver = new Promise<"over">((resolve) => void (timer = setTimeout(() => resolve("over"), graceMs)))
  // A request the front passed on may not have reached its handler yet (in-flight counts from there).
  const answered = async () => {
    await inFlight.idle()
    while (servers.busy()) await new Promise((resolve) => setTimeout(resolve, 10))
  }
  await Promise.race([answered(), graceOver])
  clearTimeout(timer)
  // A call ends when the inner server has written its answer; the bytes still cross the proxy
  // front (one unix-socket hop, a few event-loop turns) before the client has them. Cutting at
  // once would reset answers already given, so the last ones get a short, fixed window.
  await new Promise((resolve) => setTimeout(resolve, FLUSH_WINDOW_MS))
  for (const s of servers.sessions) s.destroy()
  servers.closeAll()
}

export const toWebHeaders = (h: http.IncomingHttpHeaders): Headers => {
  const out = new Headers()
  for (const [k, v] of Object.entries(h)) {
    if (k.startsWith(":") || v === undefined) continue
    if (Array.isArray(v)) v.forEach((x) => out.append(k, x))
    else out.set(k, v)
  }
  return out
}

export const sendJson = (res: NodeRes, status: number, body: unknown, close = false) => {
  if (res.headersSent) return void res.end()
  const text = JSON.stringify(body, jsonReplacer)
  const headers: Record<string, string> = { "content-type": "application/json" }
  if (close) headers.connection = "close"
  res.writeHead(status, headers)
  res.end(text)
}

export const sendResponse = (res: NodeRes, r: RestResponse) => {
  if (r.raw !== undefined) {
    res.writeHead(r.status, { "content-type": r.raw.contentType, ...r.headers })
    return void res.end(r.raw.data)
  }
  if (r.body === undefined) {
    res.writeHead(r.status, { ...r.headers })
    return void res.end()
  }
  res.writeHead(r.status, { "content-type": "application/json", ...r.headers })
  res.end(JSON.stringify(r.body, jsonReplacer))
}

/** bigint (uint64 versions) is written as a JSON string, as protobuf's JSON mapping does. */
const jsonReplacer = (_key: string, value: unknown) => (typeof value === "bigint" ? value.toString() : value)
