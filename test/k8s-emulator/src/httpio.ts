// HTTP plumbing: JSON answers, bounded request bodies, the default field manager.
import type { IncomingMessage, ServerResponse } from "node:http"
import type { WriteOptions } from "./api.ts"
import { ApiError, badRequest } from "./errors.ts"

const MAX_BODY = 3 * 1024 * 1024

export function send(res: ServerResponse, code: number, body: unknown, contentType = "application/json") {
  const text = typeof body === "string" ? body : JSON.stringify(body)
  res.writeHead(code, {
    "Content-Type": contentType,
    "Content-Length": Buffer.byteLength(text),
    "Cache-Control": "no-cache, private",
  })
  res.end(text)
}

/** Sends a write's result with its `Warning` headers (e.g. unknown fields that were dropped). */
export function sendWritten(res: ServerResponse, code: number, body: unknown, opts: WriteOptions) {
  if (opts.warnings && opts.warnings.length > 0) {
    res.setHeader(
      "Warning",
      opts.warnings.map((w) => `299 - ${JSON.stringify(w)}`),
    )
  }
  send(res, code, body)
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on("data", (c: Buffer) => {
      size += c.length
      // Past the limit the rest is read and dropped, so the client gets the 413 and not a reset.
      if (size > MAX_BODY) return
      chunks.push(c)
    })
    // Every request's work is bounded: a body that never finishes is cut off.
    const timer = setTimeout(() => {
      reject(new ApiError(408, "Timeout", "request body not received within 30 s"))
      req.destroy()
    }, 30_000)
    req.on("close", () => clearTimeout(timer))
    req.on("end", () =>
      size > MAX_BODY
        ? reject(new ApiError(413, "RequestEntityTooLarge", `Request entity too large: limit is ${MAX_BODY}`))
        : resolve(Buffer.concat(chunks).toString("utf8")))
    req.on("error", reject)
  })
}

export function parseJson(text: string): unknown {
  if (text.trim() === "") return undefined
  try {
    return JSON.parse(text)
  } catch (e) {
    throw badRequest(`error decoding request body: ${(e as Error).message}`)
  }
}

/** The fieldManager of writes that name none: the user agent's product token, as the real server does. */
export function defaultManager(req: IncomingMessage): string {
  const ua = req.headers["user-agent"] ?? ""
  const token = ua.split("/")[0]?.trim() ?? ""
  return token.length > 0 ? token.slice(0, 128) : "unknown"
}
