import { Effect } from "effect"
import { parse as parseYaml } from "yaml"
import { DEFAULT_MAX_DEPTH, depthExceeded, formatPath, ValidationError } from "@oprc/models"
import { depthMessage, issueMessage, jsonTextDepthExceeded, scanJsonText } from "./jsonDepth"
import { type EdgeError, UnsupportedMediaType } from "../errors"

/** A REST request after routing: path parameters decoded, body already read within the size limit. */
export interface RestRequest {
  readonly method: string
  /** The route pattern that matched, e.g. "/api/v1/packages/:name" (metric label). */
  readonly route: string
  readonly path: string
  readonly params: Readonly<Record<string, string>>
  readonly query: URLSearchParams
  readonly headers: Headers
  /** The same headers as a plain record by lower-case name, when the transport has them so. */
  readonly fields?: Readonly<Record<string, string>> | undefined
  /**
   * One header by its lower-case name, as `headers.get` gives it, read from `fields` when the
   * transport has them (no fetch `Headers` is built for it).
   */
  readonly header: (lowerName: string) => string | null
  readonly body: Uint8Array
  /** The body decoded as UTF-8, when its content type is a text type (decoded once, at the edge). */
  readonly text?: string | undefined
  readonly signal: AbortSignal
  /** server.maxJsonDepth; readBody refuses deeper bodies before parsing them. */
  readonly maxJsonDepth?: number | undefined
  /** server.maxJsonValues; readBody refuses bodies with more values before parsing them. */
  readonly maxJsonValues?: number | undefined
}

export interface RestResponse {
  readonly status: number
  /** JSON-serialised unless `raw` is given. */
  readonly body?: unknown
  readonly raw?: { readonly data: string | Uint8Array; readonly contentType: string }
  readonly headers?: Readonly<Record<string, string>>
}

export interface RestRoute<R> {
  readonly method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE"
  readonly path: string
  readonly handler: (request: RestRequest) => Effect.Effect<RestResponse, EdgeError, R>
}

export const route = <R = never>(
  method: RestRoute<R>["method"],
  path: string,
  handler: RestRoute<R>["handler"],
): RestRoute<R> => ({ method, path, handler })

export const json = (status: number, body: unknown): RestResponse => ({ status, body })
export const noContent: RestResponse = { status: 204 }

interface CompiledRoute<R> {
  readonly route: RestRoute<R>
  readonly regex: RegExp
  readonly names: ReadonlyArray<string>
}

/** Matches "/a/:b/c" patterns; a trailing "*name" captures the rest of the path. */
export const compileRoutes = <R>(routes: ReadonlyArray<RestRoute<R>>) => {
  const compiled: Array<CompiledRoute<R>> = routes.map((route) => {
    const names: Array<string> = []
    const source = route.path
      .split("/")
      .map((seg) => {
        if (seg.startsWith(":")) {
          names.push(seg.slice(1))
          return "([^/]+)"
        }
        if (seg.startsWith("*")) {
          names.push(seg.slice(1))
          return "(.*)"
        }
        return seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
      })
      .join("/")
    return { route, regex: new RegExp(`^${source}/?$`), names }
  })
  // Most requests on a server are RPCs ("/pkg.Service/Method"): reject them by their first
  // segment before trying any route's regex.
  const firstSegments = new Set(routes.map((r) => r.path.split("/")[1] ?? ""))
  const anyFirst = [...firstSegments].some((s) => s.startsWith(":") || s.startsWith("*"))
  const firstSegment = (path: string) => {
    const end = path.indexOf("/", 1)
    return end === -1 ? path.slice(1) : path.slice(1, end)
  }
  // Only routes whose first two segments can be the path's are tried: those with exactly these
  // two literal segments, and those with a parameter or a single segment there (tried for every
  // path). Each list keeps the routes' order, so the first route that matches is the same.
  const literalPair = (pattern: string) => {
    const segs = pattern.split("/")
    const [a, b] = [segs[1], segs[2]]
    const literal = (seg: string | undefined) => seg !== undefined && !seg.startsWith(":") && !seg.startsWith("*")
    return literal(a) && literal(b) ? `${a}/${b}` : undefined
  }
  const pairByRoute = compiled.map((c) => literalPair(c.route.path))
  const anyPair = compiled.filter((_, i) => pairByRoute[i] === undefined)
  const byPair = new Map<string, ReadonlyArray<CompiledRoute<R>>>()
  for (const pair of pairByRoute) {
    if (pair === undefined || byPair.has(pair)) continue
    byPair.set(pair, compiled.filter((_, i) => pairByRoute[i] === pair || pairByRoute[i] === undefined))
  }
  /** "a/b" for "/a/b/...": the path's first two segments ("" when it has only one). */
  const pairOf = (path: string) => {
    const second = path.indexOf("/", 1)
    if (second === -1) return ""
    const third = path.indexOf("/", second + 1)
    return third === -1 ? path.slice(1) : path.slice(1, third)
  }
  /** `undefined`: no route has this path; `"method-not-allowed"`: the path exists with other methods (405). */
  return (method: string, path: string):
    | { readonly route: RestRoute<R>; readonly params: Record<string, string> }
    | "method-not-allowed"
    | undefined =>
  {
    if (!anyFirst && !firstSegments.has(firstSegment(path))) return undefined
    let pathMatched = false
    for (const c of byPair.get(pairOf(path)) ?? anyPair) {
      const m = c.regex.exec(path)
      if (!m) continue
      pathMatched = true
      if (c.route.method !== method && !(method === "HEAD" && c.route.method === "GET")) continue
      const params: Record<string, string> = {}
      for (let i = 0; i < c.names.length; i++) params[c.names[i]!] = safeDecode(m[i + 1] ?? "")
      return { route: c.route, params }
    }
    return pathMatched ? "method-not-allowed" : undefined
  }
}

const safeDecode = (s: string): string => {
  if (!s.includes("%")) return s
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

const yamlTypes = ["application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"]
/**
 * JSON types. `application/x-www-form-urlencoded` is what `curl -d` sends unless told otherwise;
 * no oprc route takes form data, so it is read as JSON on every server (PM, ODGM, CRM alike).
 */
const jsonTypes = ["application/json", "application/x-www-form-urlencoded", "text/json"]
export const acceptedBodyTypes =
  "application/json (or curl's default application/x-www-form-urlencoded, read as JSON), application/yaml"

const strictUtf8 = new TextDecoder("utf-8", { fatal: true })
/**
 * A safety net above the domain limits (packages: 50 000 values, collections, objects), which
 * give the precise messages: it only stops what no domain limit bounds, like 2 M numbers in an
 * object entry.
 */
export const DEFAULT_MAX_JSON_VALUES = 1_000_000

/** The body as text, refusing invalid UTF-8 instead of silently turning it into U+FFFD. */
export const bodyText = (request: RestRequest): Effect.Effect<string, ValidationError> =>
  request.text !== undefined
    ? Effect.succeed(request.text)
    : Effect.try({
      try: () => strictUtf8.decode(request.body),
      catch: () => ValidationError.single("", "request body is not valid UTF-8"),
    })

/**
 * The request body as a value: JSON, or YAML when the content type says so (so a package file
 * can be posted as it is). Syntax errors name the line and column; bodies nested deeper than
 * `maxJsonDepth` are refused before parsing (JSON text is scanned; YAML is checked after
 * composing, which is iterative in the yaml library). Other content types: 415.
 */
export const readBody = (request: RestRequest): Effect.Effect<unknown, ValidationError | UnsupportedMediaType> =>
  Effect.gen(function*() {
    const type = (request.header("content-type") ?? "application/json").split(";")[0]!.trim().toLowerCase()
    const isYaml = yamlTypes.includes(type)
    if (!isYaml && !jsonTypes.includes(type) && !type.endsWith("+json")) {
      return yield* new UnsupportedMediaType({ contentType: type, accepted: acceptedBodyTypes })
    }
    const text = yield* bodyText(request)
    if (text.trim() === "") return yield* ValidationError.single("", "request body is empty")
    const maxDepth = request.maxJsonDepth ?? DEFAULT_MAX_DEPTH
    if (isYaml) {
      // Flow collections ("[[[...") nest like JSON: refuse them before the recursive parser runs.
      const flow = jsonTextDepthExceeded(text, maxDepth)
      if (flow !== undefined) {
        return yield* ValidationError.single("", `body ${depthMessage(flow.limit, `character ${flow.offset}`)}`)
      }
      const value = yield* Effect.try({
        try: () => parseYaml(text, { prettyErrors: true }) as unknown,
        catch: (e) =>
          ValidationError.single("", `body is not valid YAML: ${e instanceof Error ? e.message : String(e)}`),
      })
      const deep = depthExceeded(value, maxDepth)
      if (deep !== undefined) return yield* ValidationError.single(formatPath(deep), `body ${depthMessage(maxDepth)}`)
      return value
    }
    const issue = scanJsonText(text, maxDepth, request.maxJsonValues ?? DEFAULT_MAX_JSON_VALUES)
    if (issue !== undefined) return yield* ValidationError.single("", `body ${issueMessage(issue)}`)
    return yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (e) => ValidationError.single("", `body is not valid JSON: ${e instanceof Error ? e.message : String(e)}`),
    })
  })
