import { waitFor } from "./process.ts"

/** What a test REST call got back: the status, headers, the text, and the JSON when it parses. */
export interface RestReply {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  /** The body parsed as JSON, or undefined when empty or not JSON. */
  readonly json: any
  /** The JSON when the body parses, else its text (undefined when empty). */
  readonly body: any
}

/** Extra headers, or just the content type of the body. */
type HeadersOrType = Record<string, string> | string | undefined

const headersOf = (h: HeadersOrType): Record<string, string> =>
  h === undefined ? {} : typeof h === "string" ? { "content-type": h } : h

/**
 * A tiny REST client for tests: bodies go out as JSON unless a content type says otherwise
 * (strings as they are), answers come back parsed. `defaults` go with every call.
 */
export const restClient = (base: string, defaults: Record<string, string> = {}) => {
  const call = async (method: string, path: string, body?: unknown, headers?: HeadersOrType): Promise<RestReply> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...defaults,
        ...headersOf(headers),
      },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    })
    const text = await res.text()
    let json: unknown
    try {
      json = text === "" ? undefined : JSON.parse(text)
    } catch {
      json = undefined
    }
    return { status: res.status, headers: res.headers, text, json, body: json ?? (text === "" ? undefined : text) }
  }
  return {
    call,
    get: (path: string, headers?: HeadersOrType) => call("GET", path, undefined, headers),
    post: (path: string, body?: unknown, headers?: HeadersOrType) => call("POST", path, body, headers),
    put: (path: string, body: unknown, headers?: HeadersOrType) => call("PUT", path, body, headers),
    patch: (path: string, body: unknown, headers?: HeadersOrType) => call("PATCH", path, body, headers),
    delete: (path: string, headers?: HeadersOrType) => call("DELETE", path, undefined, headers),
  }
}

/** `waitFor` with positional bounds, as the service suites call it. */
export const eventually = <T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<T> => waitFor(what, check, { timeoutMs, intervalMs })
