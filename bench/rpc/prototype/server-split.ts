// Direction (a), one public port: the real oprc front (packages/rpc's Bun.listen splice) sends
// HTTP/1.1 to a Bun.serve on a unix socket (lean Connect JSON + a REST echo natively, gRPC-Web and
// binary Connect through connect-es's fetch handler) and h2c to
// node:http2 with connect-node (gRPC, gRPC-Web, Connect over HTTP/2 keep working there).
// LEAN=tcp serves the Bun.serve side on the public TCP port instead (no front, no gRPC): the
// front's own cost.
import * as http2 from "node:http2"
import type * as http from "node:http"
import { type ConnectRouter, createConnectRouter } from "@connectrpc/connect"
import { createFetchHandler } from "@connectrpc/connect/protocol"
import { connectNodeAdapter } from "@connectrpc/connect-node"
import { functionv1 } from "@oprc/proto"
import { startProxyFront } from "../../../packages/rpc/src/server/front.ts"
import { echo } from "../handler"
import { leanConnect } from "./lean"

const routes = (r: ConnectRouter) => r.service(functionv1.FunctionService, { invoke: echo })
const lean = leanConnect([{ desc: functionv1.FunctionService, impl: { invoke: echo } }], 1 << 20)
// What the lean path does not take over HTTP/1.1 (gRPC-Web, Connect with binary protobuf,
// streaming): connect-es's universal fetch handler, so every protocol still works on the port.
const router = createConnectRouter()
routes(router)
const universal = new Map(router.handlers.map((h) => [h.requestPath, createFetchHandler(h)]))
const fetch = async (req: Request): Promise<Response> => {
  const pathname = new URL(req.url).pathname
  const answer = await lean(req, pathname)
  if (answer !== undefined) return answer
  const other = universal.get(pathname)
  if (other !== undefined) return other(req)
  if (pathname === "/api/echo" && req.method === "POST") return Response.json(await req.json())
  if (pathname === "/") return new Response("ok")
  return new Response(null, { status: 404 })
}

/** The face of node:http.Server that the front uses (listen on a path, close), backed by Bun.serve. */
const bunServeOnUnix = (): http.Server => {
  let server: ReturnType<typeof Bun.serve> | undefined
  const face = {
    once: () => face,
    listen: (path: string, cb: () => void) => {
      server = Bun.serve({ unix: path, fetch })
      cb()
      return face
    },
    close: () => void server?.stop(true),
  }
  return face as unknown as http.Server
}

if (process.env.LEAN === "tcp") {
  Bun.serve({ hostname: "127.0.0.1", port: Number(process.env.PORT), fetch })
} else {
  await startProxyFront({
    host: "127.0.0.1",
    port: Number(process.env.PORT),
    h1: bunServeOnUnix(),
    h2: http2.createServer(connectNodeAdapter({ routes })),
    maxConnections: 1024,
  })
}
