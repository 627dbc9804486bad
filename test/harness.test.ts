// The harness against the real servers: if these pass, the servers the other suites rely on
// start, serve, fail over and go away without leaking processes or ports.
import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { gzipSync } from "bun"
import { Etcd3 } from "etcd3"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { jetstreamManager } from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import {
  ensureBinaries,
  isPidAlive,
  isPortFree,
  type PrometheusServer,
  type ServerProcess,
  startEtcd,
  startEtcdCluster,
  startNats,
  startNatsCluster,
  startOtlpReceiver,
  startPrometheus,
  waitFor,
} from "./harness/index.ts"

// bun's default is 5 s and bunfig.toml has no timeout setting; failovers alone take ~6 s here.
setDefaultTimeout(60_000)

// Stops whatever a test started even when an assertion threw half-way.
const cleanups: (() => Promise<unknown>)[] = []
const onCleanup = (f: () => Promise<unknown>) => cleanups.push(f)
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!().catch(() => {})
})

async function expectGone(procs: ServerProcess[]) {
  for (const p of procs) {
    expect(p.alive()).toBe(false)
    expect(isPidAlive(p.pid)).toBe(false)
    for (const port of p.ports) expect(await isPortFree(port)).toBe(true)
  }
}

const etcdClient = (hosts: string[]) =>
  new Etcd3({ hosts, defaultCallOptions: () => ({ deadline: Date.now() + 2000 }) })

/** Retries `op` until it succeeds; the servers are mid-failover, so errors are expected for a while. */
const eventually = <T>(what: string, op: () => Promise<T>, timeoutMs = 20_000) =>
  waitFor(what, async () => await op(), { timeoutMs, intervalMs: 100 })

// Prometheus needs ~6 s before its first sample is queryable, so it starts first and collects
// while the other tests run. Target B is only in the reloaded config, which proves setTargets.
let prom: PrometheusServer
let metricTargets: ReturnType<typeof Bun.serve>[] = []
beforeAll(async () => {
  await ensureBinaries()
  metricTargets = [1, 2].map((n) =>
    Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req) =>
        new URL(req.url).pathname === "/metrics"
          ? new Response(
            `# TYPE oprc_harness_probe_total counter\noprc_harness_probe_total{target="t${n}"} ${n * 21}\n`,
          )
          : new Response("", { status: 404 }),
    })
  )
  const [a, b] = metricTargets.map((s) => `127.0.0.1:${s.port}`) as [string, string]
  prom = await startPrometheus({ targets: [a], scrapeIntervalMs: 500 })
  await prom.setTargets([a, b])
})

afterAll(async () => {
  await prom?.stop()
  for (const s of metricTargets) await s.stop(true)
})

describe("etcd", () => {
  test("single node: put and get", async () => {
    const etcd = await startEtcd()
    onCleanup(() => etcd.kill())
    const client = etcdClient(etcd.endpoints)
    onCleanup(async () => client.close())
    await client.put("harness/k").value("v1")
    expect(await client.get("harness/k").string()).toBe("v1")
    expect(await client.get("harness/missing").string()).toBeNull()
    client.close()
    await etcd.stop()
    await expectGone([etcd.process])
  })

  test("3-member cluster survives SIGKILL of the leader", async () => {
    const cluster = await startEtcdCluster(3)
    onCleanup(() => cluster.stop())
    const client = etcdClient(cluster.endpoints)
    onCleanup(async () => client.close())
    await client.put("harness/before").value("old")

    const leader = await cluster.leaderIndex()
    const killedPid = cluster.members()[leader]!.pid
    await cluster.kill(leader)
    expect(isPidAlive(killedPid)).toBe(false)

    await eventually("put after leader loss", async () => await client.put("harness/after").value("new"))
    const newLeader = await cluster.leaderIndex()
    expect(newLeader).not.toBe(leader)
    expect(await client.get("harness/before").string()).toBe("old")

    await cluster.restart(leader)
    // The restarted member must have caught up from its peers, read through it alone.
    const solo = etcdClient([cluster.endpoints[leader]!])
    onCleanup(async () => solo.close())
    expect(
      await eventually(
        "read via restarted member",
        async () => (await solo.get("harness/after").string()) ?? undefined,
      ),
    ).toBe("new")
    solo.close()
    client.close()

    const procs = cluster.members()
    expect(procs).toHaveLength(3)
    await cluster.stop()
    await expectGone(procs)
  })
})

describe("nats", () => {
  const closeLater = (nc: NatsConnection) => onCleanup(() => nc.close())

  test("single node: JetStream KV put and get", async () => {
    const nats = await startNats()
    onCleanup(() => nats.kill())
    const nc = await connect({ servers: nats.url })
    closeLater(nc)
    const kv = await new Kvm(nc).create("harness", { history: 2 })
    const rev = await kv.put("obj.a", "hello")
    expect(rev).toBeGreaterThan(0)
    expect((await kv.get("obj.a"))?.string()).toBe("hello")
    expect(await kv.get("obj.none")).toBeNull()
    await nc.close()
    await nats.stop()
    await expectGone([nats.process])
  })

  test("3-node cluster: R3 bucket keeps working with the stream leader killed", async () => {
    const cluster = await startNatsCluster(3)
    onCleanup(() => cluster.stop())
    const nc = await connect({ servers: cluster.urls, reconnectTimeWait: 100 })
    closeLater(nc)
    const kv = await new Kvm(nc).create("replicated", { replicas: 3 })
    await kv.put("k.before", "old")

    const jsm = await jetstreamManager(nc)
    const leaderName = (await jsm.streams.info("KV_replicated")).cluster?.leader
    const victim = Number(leaderName?.replace(/^n/, "")) - 1
    expect(victim).toBeGreaterThanOrEqual(0)
    await cluster.kill(victim)

    // nats-server 2.9 needs ~6 s to elect a new stream leader after a SIGKILL (docs/storage-engines.md §2, Failover).
    await eventually("put after stream leader loss", () => kv.put("k.after", "new"), 30_000)
    expect((await kv.get("k.before"))?.string()).toBe("old")

    await cluster.restart(victim)
    const solo = await connect({ servers: cluster.urls[victim]! })
    closeLater(solo)
    const soloKv = await new Kvm(solo).open("replicated")
    expect((await soloKv.get("k.after"))?.string()).toBe("new")
    await solo.close()
    await nc.close()

    const procs = cluster.members()
    await cluster.stop()
    await expectGone(procs)
  })
})

describe("prometheus", () => {
  test("scrapes a target added by reload and answers queries", async () => {
    const samples = await prom.waitForQuery("oprc_harness_probe_total{target=\"t2\"}", (s) => s.length === 1, 30_000)
    expect(samples[0]!.value).toBe(42)
    const first = await prom.query("oprc_harness_probe_total{target=\"t1\"}")
    expect(first.map((s) => s.value)).toEqual([21])
    const targets = await prom.targets()
    expect(targets.map((t) => t.health)).toEqual(["up", "up"])
    expect((await prom.query("1 + 1"))[0]!.value).toBe(2)
    await expect(prom.query("sum(")).rejects.toThrow(/parse error/)

    const proc = prom.process
    await prom.stop()
    await expectGone([proc])
  })
})

describe("otlp receiver", () => {
  const span = (name: string) => ({
    resourceSpans: [{
      resource: { attributes: [{ key: "service.name", value: { stringValue: "harness" } }] },
      scopeSpans: [{
        scope: { name: "test" },
        spans: [{
          traceId: "5b8efff798038103d269b633813fc60c",
          spanId: "eee19b7ec3c1b174",
          name,
          kind: 2,
          startTimeUnixNano: "1544712660000000000",
          endTimeUnixNano: "1544712661000000000",
          attributes: [{ key: "rpc.attempt", value: { intValue: "3" } }],
        }],
      }],
    }],
  })

  test("receives JSON spans, gzip or not, and refuses protobuf", async () => {
    const otlp = startOtlpReceiver()
    onCleanup(() => otlp.stop())
    const post = (body: string | Uint8Array, headers: Record<string, string>) =>
      fetch(`${otlp.url}/v1/traces`, { method: "POST", body, headers })

    expect((await post(JSON.stringify(span("plain")), { "content-type": "application/json" })).status).toBe(200)
    const got = await otlp.waitForSpan((s) => s.name === "plain", 2000)
    expect(got.resource["service.name"]).toBe("harness")
    expect(got.attributes["rpc.attempt"]).toBe(3)
    expect(got.scope.name).toBe("test")

    const zipped = gzipSync(new TextEncoder().encode(JSON.stringify(span("zipped"))))
    expect((await post(zipped, { "content-type": "application/json", "content-encoding": "gzip" })).status).toBe(200)
    await otlp.waitForSpan((s) => s.name === "zipped", 2000)

    expect((await post(new Uint8Array([10, 0]), { "content-type": "application/x-protobuf" })).status).toBe(415)
    await expect(otlp.waitForSpan((s) => s.name === "never", 100)).rejects.toThrow(/timed out/)
    expect(otlp.spans().map((s) => s.name)).toEqual(["plain", "zipped"])

    const port = otlp.port
    await otlp.stop()
    expect(await isPortFree(port)).toBe(true)
  })
})
