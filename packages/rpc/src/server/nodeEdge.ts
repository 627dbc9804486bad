import type * as http from "node:http"
import { Effect } from "effect"
import { discardRest, isRefusal, readBounded } from "./body"
import { trackHttp1Request } from "./connections"
import type { EdgeParts } from "./fetchEdge"
import { errorAnswer, refusalAnswer } from "./restEdge"
import { type NodeReq, type NodeRes, sendJson, sendResponse, toWebHeaders } from "./transport"

/**
 * The node:http2 side of the one-port server: h2c (gRPC, Connect and gRPC-Web over HTTP/2) and
 * TLS (ALPN h2 or http/1.1). Plaintext HTTP/1.1 is served by Bun.serve (fetchEdge.ts); both
 * share the REST edge, the CallRunner and the Connect routes.
 */

const emptyBody = new Uint8Array(0)
const hasNoBody = (req: NodeReq) =>
  (req.method === "GET" || req.method === "HEAD" || req.method === "DELETE") &&
  req.headers["content-length"] === undefined &&
  req.headers["transfer-encoding"] === undefined

export const makeNodeHandler = <R>(parts: EdgeParts<R>) => {
  const { limits, inFlight, rest } = parts
  const handleRest = async (
    req: NodeReq,
    res: NodeRes,
    raw: string,
    match: Exclude<ReturnType<typeof parts.matchRest>, undefined>,
  ) => {
    const method = req.method ?? "GET"
    const started = performance.now()
    const q = raw.indexOf("?")
    const pathname = q === -1 ? raw : raw.slice(0, q)
    inFlight.start()
    try {
      if (match === "method-not-allowed") {
        sendResponse(res, errorAnswer(405, "unimplemented", `method ${method} not allowed on ${pathname}`))
        rest.record("method_not_allowed", method, 405, started)
        return
      }
      // GET/DELETE without a body skip the stream reading entirely.
      const read = hasNoBody(req) ? emptyBody : await readBounded(req, parts.body)
      if (isRefusal(read)) {
        const answer = refusalAnswer(read)
        sendJson(res, answer.status, answer.body, req.httpVersionMajor === 1)
        discardRest(req)
        rest.record(match.route.path, method, read.status, started)
        return
      }
      // Cancel the handler when the client goes away before the answer (not after it).
      const abort = new AbortController()
      let answered = false
      res.on("close", () => answered || abort.abort())
      const answer = await rest.run(match, {
        method,
        pathname,
        search: q === -1 ? "" : raw.slice(q),
        headers: toWebHeaders(req.headers),
        body: read,
        signal: () => abort.signal,
        started,
      })
      answered = true
      sendResponse(res, answer)
    } finally {
      inFlight.end()
    }
  }

  return (req: NodeReq, res: NodeRes) => {
    const raw = req.url ?? "/"
    const q = raw.indexOf("?")
    const pathname = q === -1 ? raw : raw.slice(0, q)
    if (req.httpVersionMajor === 1) {
      trackHttp1Request(req as http.IncomingMessage, res as unknown as http.ServerResponse, limits)
      if (parts.draining()) res.setHeader("connection", "close")
    }
    if (pathname === "/healthz") return sendJson(res, 200, parts.healthz)
    if (pathname === "/readyz") {
      return void parts.readyz().then((r) => sendJson(res, r.ready ? 200 : 503, r))
    }
    if (pathname === "/metrics") {
      return void parts.metrics().then((text) => {
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" })
        res.end(text)
      })
    }
    const match = parts.matchRest(req.method ?? "GET", pathname)
    if (match === undefined) {
      inFlight.start()
      res.on("close", inFlight.end)
      return parts.connectNode(req, res, pathname)
    }
    void handleRest(req, res, raw, match).then(
      () => undefined,
      (e) => {
        void parts.runBase(Effect.logError("request failed", e))
        if (!res.headersSent) sendJson(res, 500, { error: { code: "internal", message: "internal error" } })
      },
    )
  }
}
