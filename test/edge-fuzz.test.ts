import { afterAll, beforeAll, expect, test } from "bun:test"
import * as http2 from "node:http2"
import { type DescMessage, fromJson, type JsonValue, toBinary } from "@bufbuild/protobuf"
import fc from "fast-check"
import { odgmv1, pmv1 } from "@oprc/proto"
import { spawnService } from "./edge-support"

// Issue 7, "no 5xx for bad input, proved by the fuzzers": random and mutated inputs on every
// edge (Connect JSON, Connect binary, gRPC, REST deep/wide bodies, odd ids) of real PM and ODGM
// processes. Every case gets a 2xx/4xx answer, the servers stay up, and RSS comes back.

let pm: Awaited<ReturnType<typeof spawnService>>
let odgm: Awaited<ReturnType<typeof spawnService>>
const counts: Record<string, number> = {}
const count = (edge: string) => void (counts[edge] = (counts[edge] ?? 0) + 1)
const baseline: Record<string, number> = {}

beforeAll(async () => {
  ;[pm, odgm] = await Promise.all([spawnService("pm"), spawnService("odgm")])
  await fetch(`${odgm.url}/api/collections/fuzz.T`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "fuzz.T", functions: {} }),
  })
  baseline.pm = pm.rssMb()
  baseline.odgm = odgm.rssMb()
})
afterAll(async () => {
  console.log(`fuzz cases per edge: ${JSON.stringify(counts)}`)
  await Promise.all([pm?.proc.stop(), odgm?.proc.stop()])
})

interface Target {
  readonly server: () => { url: string }
  readonly path: string
  readonly schema: DescMessage
  /** A valid request in proto JSON (the fuzzers mutate it or encode it to binary). */
  readonly valid: JsonValue
}

const targets: ReadonlyArray<Target> = [
  {
    server: () => pm,
    path: "/oprc.pm.v1.PackageService/CreatePackage",
    schema: pmv1.CreatePackageRequestSchema,
    valid: {
      package: {
        name: "fz",
        version: "1.0.0",
        classes: [{
          key: "A",
          bindings: [{ name: "f", function: "A.f", access: "ACCESS_MODIFIER_INTERNAL" }],
          state: { consistency: "CONSISTENCY_STRONG", keys: [{ name: "k", type: "KEY_TYPE_JSON" }] },
        }],
        functions: [{ key: "A.f", provision: { url: "http://127.0.0.1:9" } }],
      },
    },
  },
  {
    server: () => pm,
    path: "/oprc.pm.v1.DeploymentService/CreateDeployment",
    schema: pmv1.CreateDeploymentRequestSchema,
    valid: {
      deployment: {
        key: "d",
        packageName: "fz",
        classKey: "A",
        enforcement: "ENFORCEMENT_MODE_ENFORCE",
        nfr: { consistency: "CONSISTENCY_STRONG" },
      },
    },
  },
  {
    server: () => pm,
    path: "/oprc.pm.v1.PackageService/GetPackage",
    schema: pmv1.GetPackageRequestSchema,
    valid: { name: "fz" },
  },
  {
    server: () => odgm,
    path: "/oprc.odgm.v1.ObjectService/PutObject",
    schema: odgmv1.PutObjectRequestSchema,
    valid: { cls: "fuzz.T", id: "o1", entries: { a: { json: { x: 1 } } } },
  },
  {
    server: () => odgm,
    path: "/oprc.odgm.v1.ObjectService/GetObject",
    schema: odgmv1.GetObjectRequestSchema,
    valid: { cls: "fuzz.T", id: "o1" },
  },
  {
    server: () => odgm,
    path: "/oprc.odgm.v1.CollectionService/ApplyCollection",
    schema: odgmv1.ApplyCollectionRequestSchema,
    valid: {
      collection: {
        name: "fuzz.C",
        functions: { f: { url: "http://127.0.0.1:9", access: "ACCESS_MODIFIER_INTERNAL" } },
      },
    },
  },
]

const notServerError = (status: number, what: string) => {
  if (status >= 500) throw new Error(`${what}: ${status}`)
}

const post = async (t: Target, body: string | Uint8Array, type: string) => {
  const r = await fetch(`${t.server().url}${t.path}`, { method: "POST", headers: { "content-type": type }, body })
  await r.arrayBuffer()
  return r.status
}

/** A valid message's JSON with one structural change: a key renamed, a value replaced, a key added. */
const mutated = (t: Target) =>
  fc.tuple(
    fc.nat(),
    fc.oneof(
      fc.jsonValue(),
      fc.string(),
      fc.constantFrom("INTERNAL", "ACCESS_MODIFIER_PRIVATE", "Running", "nope", ""),
    ),
    fc.string({ maxLength: 12 }),
    fc.nat(2),
  ).map(([pick, value, key, how]) => {
    const doc = structuredClone(t.valid) as Record<string, unknown>
    const holders: Array<Record<string, unknown>> = []
    const walk = (v: unknown) => {
      if (v && typeof v === "object") {
        if (!Array.isArray(v)) holders.push(v as Record<string, unknown>)
        Object.values(v).forEach(walk)
      }
    }
    walk(doc)
    const holder = holders[pick % holders.length]!
    const keys = Object.keys(holder)
    const k = keys[pick % Math.max(keys.length, 1)]
    if (how === 0 && k !== undefined) holder[k] = value
    else if (how === 1 && k !== undefined) {
      holder[`${k}${key}`] = holder[k]
      delete holder[k]
    } else holder[key || "x"] = value
    return JSON.stringify(doc)
  })

test("Connect JSON: random values and mutated valid messages are never 5xx", async () => {
  for (const t of targets) {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (v) => {
        count("connect-json-random")
        notServerError(
          await post(t, JSON.stringify(v), "application/json"),
          `${t.path} ${JSON.stringify(v).slice(0, 200)}`,
        )
      }),
      { numRuns: 60 },
    )
    await fc.assert(
      fc.asyncProperty(mutated(t), async (body) => {
        count("connect-json-mutated")
        notServerError(await post(t, body, "application/json"), `${t.path} ${body.slice(0, 300)}`)
      }),
      { numRuns: 80 },
    )
  }
}, 120_000)

test("Connect binary: random bytes, truncated messages and invalid UTF-8 are never 5xx", async () => {
  for (const t of targets) {
    const valid = toBinary(t.schema, fromJson(t.schema, t.valid))
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), async (bytes) => {
        count("connect-binary-random")
        notServerError(
          await post(t, bytes, "application/proto"),
          `${t.path} random ${Buffer.from(bytes).toString("hex").slice(0, 200)}`,
        )
      }),
      { numRuns: 60 },
    )
    await fc.assert(
      fc.asyncProperty(
        fc.nat(valid.length),
        fc.nat(valid.length),
        fc.constantFrom(0xff, 0xc3, 0x80, 0xed),
        async (cut, at, bad) => {
          count("connect-binary-truncated")
          const bytes = Uint8Array.from(valid.subarray(0, Math.max(cut, 1)))
          if (at < bytes.length) bytes[at] = bad
          notServerError(
            await post(t, bytes, "application/proto"),
            `${t.path} truncated ${Buffer.from(bytes).toString("hex")}`,
          )
        },
      ),
      { numRuns: 60 },
    )
  }
}, 120_000)

test("gRPC: random and truncated messages never end in INTERNAL or UNKNOWN", async () => {
  for (const t of targets) {
    const session = http2.connect(t.server().url)
    const valid = toBinary(t.schema, fromJson(t.schema, t.valid))
    const call = (message: Uint8Array) =>
      new Promise<string | undefined>((resolve, reject) => {
        const req = session.request({
          ":method": "POST",
          ":path": t.path,
          "content-type": "application/grpc",
          te: "trailers",
        })
        let status: string | undefined
        req.on("response", (h) => (status = (h["grpc-status"] as string | undefined) ?? status))
        req.on("trailers", (h) => (status = h["grpc-status"] as string | undefined))
        req.on("data", () => undefined)
        req.on("end", () => resolve(status))
        req.on("error", reject)
        const frame = Buffer.alloc(5 + message.length)
        frame.writeUInt32BE(message.length, 1)
        frame.set(message, 5)
        req.end(frame)
      })
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 256 }),
          fc.nat(valid.length).map((n) => valid.subarray(0, n)),
        ),
        async (bytes) => {
          count("grpc")
          const status = await call(bytes)
          if (status === "13" || status === "2" || status === undefined) {
            throw new Error(`${t.path}: grpc-status ${status} for ${Buffer.from(bytes).toString("hex")}`)
          }
        },
      ),
      { numRuns: 40 },
    )
    session.close()
  }
}, 120_000)

test("REST: deep and wide bodies and odd ids are never 5xx", async () => {
  const rest = [
    { url: () => `${pm.url}/api/v1/packages`, method: "POST" },
    { url: () => `${pm.url}/api/v1/deployments`, method: "POST" },
    { url: () => `${odgm.url}/api/class/fuzz.T/0/objects/w1`, method: "PUT" },
  ]
  for (const e of rest) {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 200_000 }),
        fc.boolean(),
        fc.constantFrom("application/json", "application/yaml"),
        async (n, wide, type) => {
          count("rest-deep-wide")
          const body = wide ? `{"entries":{"a":[${Array(n).fill("1").join(",")}]}}` : `${"[".repeat(n)}${"]".repeat(n)}`
          const r = await fetch(e.url(), { method: e.method, headers: { "content-type": type }, body })
          await r.arrayBuffer()
          notServerError(r.status, `${e.method} ${e.url()} ${wide ? "wide" : "deep"} ${n} ${type}`)
        },
      ),
      { numRuns: 12 },
    )
  }
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.string({ maxLength: 40 }),
        fc.constantFrom(".", "..", "%2e%2e", "a%00b", "%ff", "%2F", "x".repeat(500)),
      ),
      fc.constantFrom("GET", "PUT", "DELETE"),
      async (id, method) => {
        count("rest-ids")
        const path = /%/.test(id) ? id : encodeURIComponent(id)
        const r = await fetch(`${odgm.url}/api/class/fuzz.T/0/objects/${path}`, {
          method,
          ...(method === "PUT"
            ? { headers: { "content-type": "application/json" }, body: "{\"entries\":{\"a\":1}}" }
            : {}),
        })
        await r.arrayBuffer()
        notServerError(r.status, `${method} id ${JSON.stringify(id)}`)
      },
    ),
    { numRuns: 150 },
  )
}, 180_000)

test("the servers stay up and their memory comes back near the baseline", async () => {
  for (const s of [pm, odgm]) expect((await fetch(`${s.url}/healthz`)).status).toBe(200)
  // Memory is handed back lazily (GC, then the allocator): allow it up to 30 s idle.
  let after = { pm: pm.rssMb(), odgm: odgm.rssMb() }
  for (let i = 0; i < 60 && (after.pm - baseline.pm! >= 100 || after.odgm - baseline.odgm! >= 100); i++) {
    await Bun.sleep(500)
    after = { pm: pm.rssMb(), odgm: odgm.rssMb() }
  }
  console.log(`RSS baseline ${JSON.stringify(baseline)} MiB, after fuzzing ${JSON.stringify(after)} MiB`)
  expect(after.pm - baseline.pm!).toBeLessThan(100)
  expect(after.odgm - baseline.odgm!).toBeLessThan(100)
}, 60_000)
