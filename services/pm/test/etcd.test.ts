import { afterAll, describe, expect, test } from "bun:test"
import { Etcd3 } from "etcd3"
import {
  type EtcdCluster,
  type EtcdServer,
  freePort,
  makeTempDir,
  removeTempDir,
  type ServerProcess,
  startEtcd,
  startEtcdCluster,
} from "@oprc/test-harness"
import { eventually, http, shopYaml, spawnPm } from "./support"

const dir = makeTempDir("pm-etcd")
const procs: Array<ServerProcess> = []
let single: EtcdServer | undefined
let cluster: EtcdCluster | undefined

afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill9()))
  await single?.kill()
  await cluster?.stop()
  removeTempDir(dir)
})

const pkg = (name: string) => ({
  name,
  version: "1.0.0",
  metadata: { tags: ["load"] },
  classes: [{ key: "Thing", bindings: [{ name: "run", function: "run" }] }],
  functions: [{ key: "run", provision: { url: "http://fn:8080" } }],
})

describe("PM on etcd", () => {
  test("single node: --storage etcd --etcd-endpoints; readiness follows etcd; data outlives the PM", async () => {
    single = await startEtcd()
    const port = await freePort()
    const args = [
      "--storage",
      "etcd",
      "--etcd-endpoints",
      single.endpoints.join(","),
      "--set",
      "telemetry.log.level=warn",
    ]
    const first = await spawnPm({ dir, port, args })
    procs.push(first)
    const api = http(`http://127.0.0.1:${port}`)
    const ready = await api.get("/readyz")
    expect(ready.body).toEqual({ ready: true, checks: [{ name: "storage (etcd)", ok: true }] })
    expect((await api.post("/api/v1/packages", await shopYaml(), "application/yaml")).status).toBe(201)
    expect((await api.post("/api/v1/packages", await shopYaml(), "application/yaml")).status).toBe(409)
    await first.kill9()

    const second = await spawnPm({ dir, port, args })
    procs.push(second)
    const got = await api.get("/api/v1/packages/shop")
    expect(got.status).toBe(200)
    expect(got.body.classes.length).toBe(3)
    const updated = await api.put("/api/v1/packages/shop", { ...got.body, version: "1.0.1" })
    expect(updated.status).toBe(200)
    expect((await api.put("/api/v1/packages/shop", { ...got.body, version: "1.0.2" })).status).toBe(409)

    await single.kill()
    single = undefined
    const down = await eventually("readiness reports etcd down", async () => {
      const r = await api.get("/readyz")
      return r.status === 503 ? r.body : undefined
    }, 15_000)
    expect(down.checks[0].name).toBe("storage (etcd)")
    expect(down.checks[0].ok).toBe(false)
    await second.kill9()
  }, 60_000)

  test(
    "3 members: killing the leader during 500 concurrent creates loses no acknowledged create and applies none twice",
    async () => {
      cluster = await startEtcdCluster(3)
      const port = await freePort()
      const pm = await spawnPm({
        dir,
        port,
        args: [
          "--storage",
          "etcd",
          "--etcd-endpoints",
          cluster.endpoints.join(","),
          "--set",
          "telemetry.log.level=warn",
        ],
      })
      procs.push(pm)
      const base = `http://127.0.0.1:${port}`
      const leader = await cluster.leaderIndex()

      const acknowledged: Array<string> = []
      const outcomes = new Map<number | string, number>()
      let killed: Promise<void> | undefined
      const create = async (i: number) => {
        const name = `load-${i}`
        const status = await fetch(`${base}/api/v1/packages`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(pkg(name)),
          signal: AbortSignal.timeout(40_000),
        }).then((r) => r.status, (e: Error) => e.name)
        outcomes.set(status, (outcomes.get(status) ?? 0) + 1)
        if (status === 201) acknowledged.push(name)
        // Kill the leader once a fifth of the creates are through, with the rest in flight.
        if (acknowledged.length === 100 && killed === undefined) killed = cluster!.kill(leader)
      }
      await Promise.all(Array.from({ length: 500 }, (_, i) => create(i)))
      await killed
      const metrics = await (await fetch(`${base}/metrics`)).text()
      const counter = (name: string) => metrics.split("\n").find((l) => l.startsWith(name))?.split(" ").pop() ?? "0"
      console.log(
        `creates: ${JSON.stringify(Object.fromEntries(outcomes))}; leader was member ${leader}; etcd retries ${
          counter("oprc_cp_storage_etcd_retries_total")
        }, recovered writes ${counter("oprc_cp_storage_etcd_recovered_writes_total")}`,
      )
      expect(killed).toBeDefined()
      // Only "acknowledged" or "unavailable, try again" — never a duplicate (409) or an internal error.
      expect([...outcomes.keys()].every((s) => s === 201 || s === 503)).toBe(true)
      expect(acknowledged.length).toBeGreaterThan(100)

      // The PM keeps serving after the re-election.
      const api = http(base)
      expect((await api.post("/api/v1/packages", pkg("after-election"))).status).toBe(201)
      for (const name of acknowledged) {
        const r = await api.get(`/api/v1/packages/${name}`)
        expect([name, r.status]).toEqual([name, 200])
      }
      const listed = new Set<string>()
      let cursor: string | undefined
      do {
        const page = await api.get(`/api/v1/packages?namePattern=load-*&limit=1000${cursor ? `&cursor=${cursor}` : ""}`)
        page.body.items.forEach((p: { name: string }) => listed.add(p.name))
        cursor = page.body.nextCursor
      } while (cursor)
      for (const name of acknowledged) expect(listed.has(name)).toBe(true)

      // Straight from etcd: every stored package was written exactly once (key version 1).
      const etcd = new Etcd3({ hosts: cluster.endpoints.filter((_, i) => i !== leader) })
      try {
        const kvs = (await etcd.getAll().prefix("/oprc/pm/packages/load-").exec()).kvs
        expect(kvs.length).toBe(listed.size)
        const rewritten = kvs.filter((kv) => kv.version !== "1").map((kv) => kv.key.toString())
        expect(rewritten).toEqual([])
      } finally {
        etcd.close()
      }
    },
    60_000,
  )
})
