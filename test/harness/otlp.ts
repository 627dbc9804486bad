import { LOOPBACK } from "./ports.ts"
import { waitFor } from "./process.ts"

/** OTLP AnyValue as JSON (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding). */
interface AnyValue {
  stringValue?: string
  boolValue?: boolean
  intValue?: string | number
  doubleValue?: number
  bytesValue?: string
  arrayValue?: { values?: AnyValue[] }
  kvlistValue?: { values?: KeyValue[] }
}
interface KeyValue {
  key: string
  value?: AnyValue
}
interface Resource {
  attributes?: KeyValue[]
}
interface Scope {
  name?: string
  version?: string
}

export type Attributes = Record<string, unknown>

export interface ReceivedSpan {
  traceId: string
  spanId: string
  parentSpanId: string
  name: string
  kind: number
  startTimeUnixNano: string
  endTimeUnixNano: string
  attributes: Attributes
  status: { code?: number; message?: string }
  events: { name: string; attributes: Attributes }[]
  resource: Attributes
  scope: Scope
}

export interface ReceivedMetric {
  name: string
  resource: Attributes
  scope: Scope
  /** The metric object as sent (sum/gauge/histogram with its data points). */
  raw: Record<string, unknown>
}

export interface ReceivedLog {
  body: unknown
  severityText: string
  attributes: Attributes
  traceId: string
  spanId: string
  resource: Attributes
  scope: Scope
}

export function decodeValue(v: AnyValue | undefined): unknown {
  if (!v) return undefined
  if (v.stringValue !== undefined) return v.stringValue
  if (v.boolValue !== undefined) return v.boolValue
  // int64 arrives as a decimal string in OTLP JSON; numbers beyond 2^53 would lose precision.
  if (v.intValue !== undefined) return Number(v.intValue)
  if (v.doubleValue !== undefined) return v.doubleValue
  if (v.bytesValue !== undefined) return v.bytesValue
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(decodeValue)
  if (v.kvlistValue) return decodeAttributes(v.kvlistValue.values)
  return undefined
}

export const decodeAttributes = (kvs: KeyValue[] | undefined): Attributes =>
  Object.fromEntries((kvs ?? []).map((kv) => [kv.key, decodeValue(kv.value)]))

type Raw = Record<string, any>

function flattenSpans(body: Raw): ReceivedSpan[] {
  return (body.resourceSpans ?? []).flatMap((rs: Raw) => {
    const resource = decodeAttributes((rs.resource as Resource | undefined)?.attributes)
    return (rs.scopeSpans ?? []).flatMap((ss: Raw) =>
      (ss.spans ?? []).map((s: Raw): ReceivedSpan => ({
        traceId: s.traceId ?? "",
        spanId: s.spanId ?? "",
        parentSpanId: s.parentSpanId ?? "",
        name: s.name ?? "",
        kind: s.kind ?? 0,
        startTimeUnixNano: String(s.startTimeUnixNano ?? ""),
        endTimeUnixNano: String(s.endTimeUnixNano ?? ""),
        attributes: decodeAttributes(s.attributes),
        status: s.status ?? {},
        events: (s.events ?? []).map((e: Raw) => ({ name: e.name ?? "", attributes: decodeAttributes(e.attributes) })),
        resource,
        scope: { name: ss.scope?.name, version: ss.scope?.version },
      }))
    )
  })
}

function flattenMetrics(body: Raw): ReceivedMetric[] {
  return (body.resourceMetrics ?? []).flatMap((rm: Raw) => {
    const resource = decodeAttributes(rm.resource?.attributes)
    return (rm.scopeMetrics ?? []).flatMap((sm: Raw) =>
      (sm.metrics ?? []).map((m: Raw) => ({ name: m.name ?? "", resource, scope: sm.scope ?? {}, raw: m }))
    )
  })
}

function flattenLogs(body: Raw): ReceivedLog[] {
  return (body.resourceLogs ?? []).flatMap((rl: Raw) => {
    const resource = decodeAttributes(rl.resource?.attributes)
    return (rl.scopeLogs ?? []).flatMap((sl: Raw) =>
      (sl.logRecords ?? []).map((l: Raw) => ({
        body: decodeValue(l.body),
        severityText: l.severityText ?? "",
        attributes: decodeAttributes(l.attributes),
        traceId: l.traceId ?? "",
        spanId: l.spanId ?? "",
        resource,
        scope: sl.scope ?? {},
      }))
    )
  })
}

export interface OtlpReceiver {
  /** Base URL for `OTEL_EXPORTER_OTLP_ENDPOINT` (signals go to `${url}/v1/traces` etc.). */
  url: string
  port: number
  spans(): ReceivedSpan[]
  metrics(): ReceivedMetric[]
  logs(): ReceivedLog[]
  waitForSpan(predicate: (s: ReceivedSpan) => boolean, timeoutMs?: number): Promise<ReceivedSpan>
  clear(): void
  stop(): Promise<void>
}

/** An OTLP/HTTP receiver for JSON bodies (gzip allowed); protobuf is answered with 415. */
export function startOtlpReceiver(): OtlpReceiver {
  const spans: ReceivedSpan[] = []
  const metrics: ReceivedMetric[] = []
  const logs: ReceivedLog[] = []
  const sinks: Record<string, (b: Raw) => void> = {
    "/v1/traces": (b) => spans.push(...flattenSpans(b)),
    "/v1/metrics": (b) => metrics.push(...flattenMetrics(b)),
    "/v1/logs": (b) => logs.push(...flattenLogs(b)),
  }
  const server = Bun.serve({
    hostname: LOOPBACK,
    port: 0,
    async fetch(req) {
      const sink = sinks[new URL(req.url).pathname]
      if (!sink) return new Response("not found", { status: 404 })
      if (req.method !== "POST") return new Response("method not allowed", { status: 405 })
      const type = req.headers.get("content-type") ?? ""
      if (!type.startsWith("application/json")) {
        return new Response(`unsupported content-type ${type}; send OTLP/HTTP JSON`, { status: 415 })
      }
      try {
        let bytes = new Uint8Array(await req.arrayBuffer())
        if (req.headers.get("content-encoding") === "gzip") bytes = Bun.gunzipSync(bytes)
        sink(JSON.parse(new TextDecoder().decode(bytes)) as Raw)
      } catch (e) {
        return new Response(`bad OTLP body: ${(e as Error).message}`, { status: 400 })
      }
      // An empty ExportXServiceResponse means full success.
      return Response.json({})
    },
  })
  const port = server.port!
  return {
    url: `http://${LOOPBACK}:${port}`,
    port,
    spans: () => [...spans],
    metrics: () => [...metrics],
    logs: () => [...logs],
    waitForSpan: (predicate, timeoutMs = 10_000) =>
      waitFor("OTLP span", async () => spans.find(predicate), { timeoutMs, intervalMs: 10 }),
    clear() {
      spans.length = 0
      metrics.length = 0
      logs.length = 0
    },
    async stop() {
      await server.stop(true)
    },
  }
}
