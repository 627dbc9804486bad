import { afterAll, beforeAll, expect, test } from "bun:test"
import { createClient } from "@connectrpc/connect"
import { createGrpcTransport } from "@connectrpc/connect-node"
import { commonv1, odgmv1 } from "@oprc/proto"
import { type NatsCluster, startNatsCluster } from "@oprc/test-harness"
import { eventually, type FunctionProcess, probeEntry, rest, spawnOdgm, startFunction } from "./support/odgm.ts"

// Several ODGM processes over one NATS cluster (R3) serve the same collections: a collection
// applied on one node (gRPC, as the CRM does) is served by the other, any node answers for any
// object, async results and trigger deliveries cross nodes.

let cluster: NatsCluster
let probe: FunctionProcess
let a: Awaited<ReturnType<typeof spawnOdgm>>
let b: Awaited<ReturnType<typeof spawnOdgm>>

beforeAll(async () => {
  ;[cluster, probe] = await Promise.all([startNatsCluster(3), startFunction(probeEntry)])
  const args = (i: number) => ["--storage", "nats", "--nats", cluster.urls[i]!, "--nats-replicas", "3"]
  const env = { OPRC_COLLECTIONS_REFRESH_MS: "500", OPRC_TRIGGERS_POLL_INTERVAL_MS: "50" }
  ;[a, b] = await Promise.all([
    spawnOdgm(args(0), { env, name: "odgm-a" }),
    spawnOdgm(args(1), { env, name: "odgm-b" }),
  ])
}, 60_000)
afterAll(async () => {
  await Promise.all([a?.proc.stop(5000), b?.proc.stop(5000)])
  await probe?.stop()
  await cluster?.stop()
})

test("two ODGMs on one NATS cluster serve the same collections and objects", async () => {
  const collections = createClient(odgmv1.CollectionService, createGrpcTransport({ baseUrl: a.url }))
  const fn = (stateless = false) => ({ url: probe.url, stateless })
  await collections.applyCollection({
    collection: {
      name: "so.Probe",
      partitionCount: 8,
      functions: { increment: fn(), set: fn(), record: fn(), get: fn(), hello: fn(true) },
      triggers: [{
        event: commonv1.TriggerEvent.DATA_UPDATE,
        source: "value",
        target: { function: "record", objectId: "log" },
      }],
    },
  })
  const [ra, rb] = [rest(a.url), rest(b.url)]
  // B learns the collection from the grid, not from A.
  await eventually(
    "B serves the collection",
    async () => ((await rb.get("/api/collections/so.Probe")).status === 200 ? true : undefined),
  )
  const listed = await createClient(odgmv1.CollectionService, createGrpcTransport({ baseUrl: b.url })).listCollections(
    {},
  )
  expect(listed.collections.map((c) => c.name)).toContain("so.Probe")

  // Writes on one node, reads on the other; invocations alternate nodes on the same objects.
  for (let i = 0; i < 20; i++) {
    expect((await (i % 2 ? ra : rb).put(`/api/class/so.Probe/-/objects/o${i}`, { entries: { n: i } })).status).toBe(201)
  }
  for (let i = 0; i < 20; i++) {
    expect((await (i % 2 ? rb : ra).get(`/api/class/so.Probe/-/objects/o${i}`)).json.entries.n).toBe(i)
  }
  for (let i = 0; i < 10; i++) {
    expect((await (i % 2 ? ra : rb).post("/api/class/so.Probe/-/objects/ctr/invokes/increment")).json).toEqual({
      count: i + 1,
    })
  }
  expect((await rb.post("/api/class/so.Probe/-/invokes/hello", { name: "b" })).json.greeting).toBe("hello b")
  const pageA = await ra.get("/api/class/so.Probe/-/objects?limit=1000")
  const pageB = await rb.get("/api/class/so.Probe/-/objects?limit=1000")
  expect(pageA.json.objects.map((o: { id: string }) => o.id)).toEqual(
    pageB.json.objects.map((o: { id: string }) => o.id),
  )
  expect(pageA.json.objects).toHaveLength(21)

  // An async invocation accepted by A is answered by B.
  const accepted = await ra.post("/api/class/so.Probe/-/objects/ctr/invokes/increment?async=true")
  const result = await rb.get(`/api/invocations/${accepted.json.invocationId}?waitMs=10000`)
  expect(result.json).toMatchObject({ state: "DONE", status: "OK", output: { count: 11 } })

  // Trigger events fired by writes on either node are all delivered (by whichever node claims them).
  await ra.post("/api/class/so.Probe/-/objects/t1/invokes/set", { value: 1 })
  for (let i = 2; i <= 7; i++) {
    await (i % 2 ? ra : rb).post("/api/class/so.Probe/-/objects/t1/invokes/set", { value: i })
  }
  const log = await eventually("6 update events recorded", async () => {
    const r = await ra.get("/api/class/so.Probe/-/objects/log")
    return r.status === 200 && r.json.entries.events.length >= 6 ? r.json.entries : undefined
  }, 20_000)
  expect(log.seen).toEqual(Array.from({ length: 6 }, () => "DATA_UPDATE:t1:value"))
}, 60_000)
