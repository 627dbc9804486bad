import * as fs from "node:fs"
import * as http from "node:http"
import * as http2 from "node:http2"
import * as net from "node:net"
import { Effect, Schema } from "effect"
import type { ServerOptions } from "./Server"
import type { RestResponse } from "./rest"

// Node plumbing of the one-port server: the listening sockets, drain, body reading, replies.

export class ServerStartError extends Schema.TaggedError<ServerStartError>()("ServerStartError", {
  reason: Schema.String,
}) {}

export type NodeReq = http.IncomingMessage | http2.Http2ServerRequest

/** The part of http/http2 responses used here (their full union has incompatible overloads). */
export interface NodeRes {
  readonly headersSent: boolean
  writeHead(status: number, headers?: Record<string, string>): unknown
  end(data?: string | Uint8Array): unknown
  setHeader(name: string, value: string): unknown
  on(event: "close", listener: () => void): unknown
}

export interface Servers {
  readonly front: net.Server
  readonly sockets: Set<net.Socket>
  readonly sessions: Set<http2.Http2Session>
}

export const makeServers = (options: ServerOptions, handleAny: (req: NodeReq, res: NodeRes) => void) =>
  Effect.try({
    try: (): Servers => {
      // One handler serves both protocols; it only uses what their request/response types share.
      const handler = handleAny as unknown as http.RequestListener & ((req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void)
      const sockets = new Set<net.Socket>()
      const sessions = new Set<http2.Http2Session>()
      const track = (s: net.Socket) => {
        sockets.add(s)
        s.once("close", () => sockets.delete(s))
      }
      if (options.tls) {
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
        secure.on("session", (s) => {
          sessions.add(s)
          s.once("close", () => sessions.delete(s))
        })
        secure.on("secureConnection", track)
        return { front: secure as unknown as net.Server, sockets, sessions }
      }
      const h1 = http.createServer(handler)
      const h2 = http2.createServer(handler)
      h2.on("session", (s) => {
        sessions.add(s)
        s.once("close", () => sessions.delete(s))
      })
      // The HTTP/2 client preface starts with "PRI * HTTP/2.0"; anything else is HTTP/1.x.
      const front = net.createServer((socket) => {
        track(socket)
        let head = Buffer.alloc(0)
        const onData = (chunk: Buffer) => {
          head = Buffer.concat([head, chunk])
          if (head.length < 3) return
          socket.off("data", onData)
          socket.pause()
          socket.unshift(head)
          ;(head.toString("latin1", 0, 3) === "PRI" ? h2 : h1).emit("connection", socket)
          socket.resume()
        }
        socket.on("data", onData)
        socket.on("error", () => socket.destroy())
      })
      return { front, sockets, sessions }
    },
    catch: (e) => new ServerStartError({ reason: `cannot start server: ${e instanceof Error ? e.message : String(e)}` }),
  })

/** Stop accepting, let in-flight calls finish (bounded by the grace period), then cut the rest. */
export const drain = async (servers: Servers, inFlight: () => number, graceMs: number) => {
  const closed = new Promise<void>((resolve) => servers.front.close(() => resolve()))
  for (const s of servers.sessions) s.close()
  const deadline = Date.now() + graceMs
  while (inFlight() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  for (const s of servers.sessions) s.destroy()
  for (const s of servers.sockets) s.destroy()
  await Promise.race([closed, new Promise((r) => setTimeout(r, 200))])
}


export const readLimited = (req: NodeReq, limit: number): Promise<Uint8Array | "too-large"> =>
  new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? "0")
    if (declared > limit) {
      req.resume()
      return resolve("too-large")
    }
    const chunks: Array<Buffer> = []
    let size = 0
    let over = false
    req.on("data", (c: Buffer) => {
      if (over) return
      size += c.length
      if (size > limit) {
        over = true
        return resolve("too-large")
      }
      chunks.push(c)
    })
    req.on("end", () => over || resolve(new Uint8Array(Buffer.concat(chunks))))
    req.on("error", reject)
  })

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

