import { join } from "node:path"
import { type ReceivedSpan, waitFor } from "../harness/index.ts"

export { binaryDir } from "../harness/index.ts"

// Shared by the e2e files: the compiled binaries, the two packages of the flow, small HTTP helpers.

export const repoRoot = join(import.meta.dir, "../..")

/**
 * The second package of the flow: `tally.Tally` depends on `counter` and its trigger crosses
 * classes: every completed `increment` of a tally increments the counter object `total`.
 * The tally's function is the counter example's process (any class with a `count` entry).
 */
export const tallyPackage = (totalId = "total") =>
  `name: tally
version: 1.0.0
dependencies:
  - {name: counter, version: ^1.0.0}
classes:
  - key: Tally
    state:
      keys:
        - {name: count, type: NUMBER}
    bindings:
      - {name: increment, function: Tally.fn}
      - {name: get, function: Tally.fn}
    triggers:
      - event: FUNC_COMPLETE
        source: increment
        target: {cls: counter.Counter, function: increment, objectId: ${totalId}}
functions:
  - key: Tally.fn
    provision:
      command: [bun, examples/counter/src/main.ts]
`

export interface HttpReply {
  readonly status: number
  readonly body: any
}

/** A request with a JSON (or YAML, for a string body) body; the answer parsed when it is JSON. Bounded: 50 s, beyond the longest server-side wait the flow asks for (40 s). */
export const call = async (
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<HttpReply> => {
  const init: RequestInit = { method, headers: { ...headers }, signal: AbortSignal.timeout(50_000) }
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body)
    ;(init.headers as Record<string, string>)["content-type"] ??= typeof body === "string"
      ? "application/yaml"
      : "application/json"
  }
  const res = await fetch(url, init)
  const text = await res.text()
  let parsed: unknown = text
  try {
    parsed = text === "" ? undefined : JSON.parse(text)
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed }
}

/** Like `call`, but anything other than 2xx is an error naming the request and the answer. */
export const ok = async (
  method: string,
  url: string,
  body?: unknown,
  headers?: Record<string, string>,
): Promise<any> => {
  const r = await call(method, url, body, headers)
  if (r.status < 200 || r.status >= 300) throw new Error(`${method} ${url}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
  return r.body
}

/**
 * Waits until the spans of `traceId` include `service`'s, and checks the trace hangs together:
 * every span but the root has its parent in the trace. Returns the trace's spans.
 */
export const waitForTrace = async (
  spans: () => ReadonlyArray<ReceivedSpan>,
  traceId: string,
  services: ReadonlyArray<string>,
  /** More the trace must hold (each process exports on its own schedule, so spans arrive in any order). */
  complete: (trace: ReadonlyArray<ReceivedSpan>) => boolean = () => true,
  timeoutMs = 20_000,
): Promise<Array<ReceivedSpan>> => {
  const trace = () => spans().filter((s) => s.traceId === traceId)
  try {
    return await waitFor(`one trace ${traceId} across ${services.join(", ")}`, async () => {
      const now = trace()
      const have = new Set(now.map((s) => s.resource["service.name"] as string))
      return services.every((s) => have.has(s)) && complete(now) ? now : undefined
    }, { timeoutMs, intervalMs: 100 })
  } catch (e) {
    const seen = trace().map((s) => `${s.resource["service.name"]}: ${s.name}`)
    throw new Error(`${(e as Error).message}; spans of the trace: ${seen.length === 0 ? "none" : seen.join("; ")}`)
  }
}

/** The chain of services from a span up to the root of its trace (parent links followed). */
export const ancestry = (trace: ReadonlyArray<ReceivedSpan>, from: ReceivedSpan): Array<string> => {
  const byId = new Map(trace.map((s) => [s.spanId, s]))
  const chain: Array<string> = []
  let at: ReceivedSpan | undefined = from
  while (at !== undefined) {
    const service = at.resource["service.name"] as string
    if (chain[chain.length - 1] !== service) chain.push(service)
    at = at.parentSpanId === "" ? undefined : byId.get(at.parentSpanId)
  }
  return chain
}
