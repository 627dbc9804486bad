import { afterAll, beforeAll, expect, test } from "bun:test"
import fc from "fast-check"
import { type NatsServer, startNats } from "@oprc/test-harness"
import { type FunctionProcess, probeCollection, probeEntry, rest, startFunction, startOdgm } from "./support/odgm.ts"

// A fast-check fuzz of the REST gateway: random methods, paths, queries, headers and bodies, with
// valid and invalid parts mixed. ODGM must never fail itself (500); 502/503/504 may only come from
// a function in trouble, which the live probe never is for the functions used here.

const cls = "fuzz.Probe"
const safeFns = ["echo", "get", "set", "increment", "record", "remove", "fail", "invalid", "hello", "noop"]
let probe: FunctionProcess
let nats: NatsServer
const odgms: Record<string, { readonly url: string; readonly stop: () => Promise<unknown> }> = {}

const prepare = async (url: string) => {
  const c = probeCollection(cls, probe.url)
  delete (c.functions as Record<string, unknown>).sleep
  expect((await rest(url).put(`/api/collections/${cls}`, c)).status).toBe(200)
  for (const id of ["a", "b.c", "x:1"]) {
    await rest(url).put(`/api/class/${cls}/-/objects/${id}`, { entries: { value: 1 } })
  }
}

beforeAll(async () => {
  ;[probe, nats] = await Promise.all([startFunction(probeEntry), startNats()])
  const common = { internalToken: "fuzz-token", server: { bodyLimitBytes: 64 * 1024 } }
  odgms.memory = await startOdgm(common)
  odgms.nats = await startOdgm({ ...common, storage: { kind: "nats", nats: { servers: [nats.url] } } })
  for (const o of Object.values(odgms)) await prepare(o.url)
}, 30_000)
afterAll(async () => {
  for (const o of Object.values(odgms)) await o.stop()
  await probe?.stop()
  await nats?.stop()
})

const printable = fc.string({
  unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:~!*'()%$&+,;=@ "),
  maxLength: 40,
})
const anyText = fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit: "grapheme", maxLength: 20 }), printable)
const segment = (valid: ReadonlyArray<string>) =>
  fc.oneof(
    { weight: 10, arbitrary: fc.constantFrom(...valid) },
    { weight: 2, arbitrary: anyText.filter((s) => s.length > 0).map(encodeURIComponent) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        "%",
        "%zz",
        "..",
        ".",
        "-",
        "auto",
        "9999999999",
        "-1",
        "0x1",
        "a".repeat(200),
        "%2F",
        "%00",
      ),
    },
  )
const clsSeg = segment([cls, cls, cls, cls, "no.Such", "Fuzz", "a.b.c"])
const partSeg = segment(["-", "auto", "0", "1", "3", "4"])
const idSeg = segment(["a", "b.c", "x:1", "new-1", "zz_9"])
const fnSeg = segment([...safeFns, "nope", "sleep"])
const query = fc.array(
  fc.tuple(
    fc.constantFrom(
      "expectedVersion",
      "limit",
      "cursor",
      "prefix",
      "entries",
      "async",
      "timeoutMs",
      "waitMs",
      "createOnly",
      "purge",
      "x",
    ),
    fc.oneof(anyText, fc.nat().map(String), fc.constantFrom("true", "1", "-5", "1e9")),
  ),
  { maxLength: 4 },
).map((kv) => (kv.length === 0 ? "" : `?${kv.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&")}`))

const methods = fc.constantFrom("GET", "PUT", "PATCH", "DELETE", "POST")
/** Mostly a method the path has, sometimes any (405s). */
const withMethod = (allowed: ReadonlyArray<string>, p: fc.Arbitrary<string>) =>
  fc.tuple(fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...allowed) }, { weight: 1, arbitrary: methods }), p)

const request = fc.oneof(
  withMethod(
    ["GET", "PUT", "PATCH", "DELETE"],
    fc.tuple(clsSeg, partSeg, idSeg, query).map(([c, p, i, q]) => `/api/class/${c}/${p}/objects/${i}${q}`),
  ),
  withMethod(["GET"], fc.tuple(clsSeg, partSeg, query).map(([c, p, q]) => `/api/class/${c}/${p}/objects${q}`)),
  withMethod(
    ["POST"],
    fc.tuple(clsSeg, partSeg, idSeg, fnSeg, query).map(([c, p, i, f, q]) =>
      `/api/class/${c}/${p}/objects/${i}/invokes/${f}${q}`
    ),
  ),
  withMethod(
    ["POST"],
    fc.tuple(clsSeg, partSeg, fnSeg, query).map(([c, p, f, q]) => `/api/class/${c}/${p}/invokes/${f}${q}`),
  ),
  withMethod(["GET"], fc.tuple(idSeg, query).map(([i, q]) => `/api/invocations/${i}${q}`)),
  withMethod(
    ["GET", "PUT", "DELETE"],
    fc.tuple(segment(["fuzz.Other", "no.Such", "bad name", "x"]), query).map(([n, q]) => `/api/collections/${n}${q}`),
  ),
  withMethod(
    ["GET", "POST", "DELETE"],
    fc.constantFrom(
      "/api/collections",
      "/api/dead-letters",
      "/api/dead-letters/x/redrive",
      "/api/dead-letters/x",
      "/api/class",
      "/api",
      "/",
    ),
  ),
  withMethod(["GET", "POST"], anyText.map((s) => `/${encodeURIComponent(s)}`)),
)

const entries = fc.dictionary(
  fc.oneof(fc.constantFrom("value", "count", "events"), anyText),
  fc.jsonValue({ maxDepth: 3 }),
  { maxKeys: 4 },
)
const body = fc.oneof(
  { weight: 6, arbitrary: entries.map((e) => JSON.stringify({ entries: e })) },
  fc.constant(undefined),
  fc.jsonValue({ maxDepth: 4 }).map((j) => JSON.stringify(j)),
  entries.map((e) => JSON.stringify({ entries: e })),
  fc.record({ entries, delete: fc.array(anyText, { maxLength: 3 }) }, { requiredKeys: [] }).map((b) =>
    JSON.stringify(b)
  ),
  fc.record({ value: fc.jsonValue({ maxDepth: 2 }), name: anyText, ms: fc.integer() }, { requiredKeys: [] }).map((b) =>
    JSON.stringify(b)
  ),
  fc.record({
    name: anyText,
    partitionCount: fc.integer({ min: -2, max: 5000 }),
    functions: fc.dictionary(anyText, fc.record({ url: anyText }), { maxKeys: 2 }),
  }, { requiredKeys: [] }).map((b) => JSON.stringify(b)),
  anyText,
  fc.constant("{\"entries\": {"),
  fc.constant("x".repeat(70 * 1024)),
)
const headerValue = fc.string({
  unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789-_/.;=*\" "),
  maxLength: 30,
})
const headers = fc.record(
  {
    "content-type": fc.oneof(
      fc.constantFrom(
        "application/json",
        "application/yaml",
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=utf-8",
      ),
      headerValue,
    ),
    "if-match": fc.oneof(fc.nat().map((n) => `"${n}"`), headerValue),
    "if-none-match": fc.constantFrom("*", "x"),
    "x-oprc-invocation-id": fc.oneof(idSeg, headerValue),
    "x-oprc-internal-token": fc.constantFrom("fuzz-token", "wrong"),
    "x-oprc-caller-class": fc.constantFrom(cls, "other.X"),
  },
  { requiredKeys: [] },
)

const fuzz = async (url: string, numRuns: number) => {
  const seen = new Map<number, number>()
  await fc.assert(
    fc.asyncProperty(request, headers, body, async ([method, p], h, b) => {
      const res = await fetch(`${url}${p}`, {
        method,
        headers: h,
        ...(b === undefined || method === "GET" ? {} : { body: b }),
      })
      const text = await res.text()
      seen.set(res.status, (seen.get(res.status) ?? 0) + 1)
      const invokesProbe = p.includes(`/api/class/${cls}/`) && p.includes("/invokes/")
      // A 504 is the caller's own doing when it asked for a tiny deadline (?timeoutMs=1).
      const ownDeadline = res.status === 504 && /[?&]timeoutMs=\d/.test(p)
      const fault = !ownDeadline &&
        (res.status === 500 || (res.status >= 500 && !invokesProbe) ||
          (res.status >= 500 &&
            /\/invokes\/(echo|get|set|increment|record|remove|fail|invalid|hello|noop)(\?|$)/.test(p)))
      if (fault) throw new Error(`${method} ${p} -> ${res.status}: ${text.slice(0, 300)}`)
      // Every error answer has the documented shape.
      if (res.status >= 400 && res.headers.get("content-type")?.includes("json")) {
        const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }
        if (typeof parsed.error?.code !== "string" || typeof parsed.error.message !== "string") {
          throw new Error(`${method} ${p} -> ${res.status} without an error body: ${text.slice(0, 200)}`)
        }
      }
    }),
    { numRuns, endOnFailure: true },
  )
  console.log("statuses:", Object.fromEntries([...seen].sort((a, b) => a[0] - b[0])))
  // The fuzz reached the interesting answers, not only 404s.
  for (const s of [200, 400, 404, 413]) expect(seen.get(s) ?? 0).toBeGreaterThan(0)
}

test(
  "fuzzing the REST gateway (memory store, 1,200 cases): no 500, no function-less 5xx",
  () => fuzz(odgms.memory!.url, 1200),
  60_000,
)

test(
  "fuzzing the REST gateway (NATS store, 400 cases): no 500, no function-less 5xx",
  () => fuzz(odgms.nats!.url, 400),
  60_000,
)
