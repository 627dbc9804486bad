import * as http from "node:http"
import * as http2 from "node:http2"
import * as net from "node:net"
import type { ConnectRouter } from "@connectrpc/connect"
import { connectNodeAdapter } from "@connectrpc/connect-node"
import { functionv1 } from "@oprc/proto"
import type { ClassDef, StateSchema } from "./define.ts"
import { makeInvoke } from "./handler.ts"
import { makeOdgmClient } from "./odgm.ts"

export interface ServeOptions {
  /** Default: `PORT` from the environment, else 8080. 0 picks a free port. */
  readonly port?: number
  /** Default: `HOST`, else 0.0.0.0. */
  readonly host?: string
  /** ODGM's URL for `ctx.odgm`. Default: `ODGM_URL`. */
  readonly odgmUrl?: string
  /** Sent as `x-oprc-internal-token` on calls to ODGM. Default: `OPRC_INTERNAL_TOKEN`. */
  readonly internalToken?: string
  /** Largest accepted request, bytes (default 4 MiB). */
  readonly readMaxBytes?: number
  /** Log one line when listening (default true). */
  readonly quiet?: boolean
}

export interface FunctionServer {
  readonly port: number
  readonly url: string
  readonly close: () => Promise<void>
}

type Handler = (req: { readonly url?: string | undefined }, res: { writeHead(status: number, headers: Record<string, string>): unknown; end(data: string): unknown }) => void

/**
 * Serves a class's functions as `oprc.function.v1.FunctionService` on one port: gRPC (h2c),
 * gRPC-Web and Connect (HTTP/1.1 and HTTP/2), plus `GET /healthz`. This is the entry point of a
 * function process, so it reads PORT, HOST, ODGM_URL and OPRC_INTERNAL_TOKEN from the environment.
 */
export const serve = async <S extends StateSchema>(def: ClassDef<S>, options: ServeOptions = {}): Promise<FunctionServer> => {
  const env = process.env
  const port = options.port ?? (env.PORT ? Number(env.PORT) : 8080)
  const host = options.host ?? env.HOST ?? "0.0.0.0"
  const odgmUrl = options.odgmUrl ?? env.ODGM_URL
  const token = options.internalToken ?? env.OPRC_INTERNAL_TOKEN
  const odgm = odgmUrl ? makeOdgmClient({ baseUrl: odgmUrl, ...(token ? { internalToken: token } : {}), callerClass: env.OPRC_CLASS }) : undefined
  const invoke = makeInvoke(def, odgm)

  const connect = connectNodeAdapter({
    routes: (router: ConnectRouter) => router.service(functionv1.FunctionService, { invoke: (req) => invoke(req) }),
    readMaxBytes: options.readMaxBytes ?? 4 * 1024 * 1024,
  }) as unknown as Handler
  const handler: Handler = (req, res) => {
    if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" })
      return void res.end(JSON.stringify({ status: "ok", functions: Object.keys(def.functions) }))
    }
    connect(req, res)
  }
  const h1 = http.createServer(handler as unknown as http.RequestListener)
  h1.keepAliveTimeout = 65_000
  const h2 = http2.createServer(handler as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void)
  const sockets = new Set<net.Socket>()
  // Plaintext HTTP/2 (gRPC) starts with the "PRI * HTTP/2.0" preface; anything else is HTTP/1.x.
  const front = net.createServer((socket) => {
    sockets.add(socket)
    socket.once("close", () => sockets.delete(socket))
    socket.on("error", () => socket.destroy())
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
  })
  const bound = await new Promise<number>((resolve, reject) => {
    front.once("error", reject)
    front.listen(port, host, () => {
      const a = front.address()
      resolve(typeof a === "object" && a !== null ? a.port : port)
    })
  })
  const shown = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host
  if (!options.quiet) console.log(JSON.stringify({ message: "function server listening", port: bound, functions: Object.keys(def.functions) }))
  return {
    port: bound,
    url: `http://${shown}:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        front.close(() => resolve())
        for (const s of sockets) s.destroy()
      }),
  }
}
