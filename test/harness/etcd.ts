import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { freePorts, LOOPBACK } from "./ports.ts"
import {
  diedWith,
  makeTempDir,
  removeTempDir,
  retryOnPortClash,
  type ServerProcess,
  spawnServer,
  waitFor,
  waitForHttp,
} from "./process.ts"
import { binary } from "./system.ts"

export interface EtcdTimings {
  heartbeatMs: number
  electionMs: number
}

// Start-up is ~1 s with etcd's defaults (100/1000) and ~0.1 s with these (docs/toolchain.md §7).
const SINGLE_TIMINGS: EtcdTimings = { heartbeatMs: 10, electionMs: 100 }
// A cluster on 2 busy shared cores would flap with 10/100: missed heartbeats trigger elections.
const CLUSTER_TIMINGS: EtcdTimings = { heartbeatMs: 50, electionMs: 500 }

export interface EtcdServer {
  endpoints: string[]
  pid: number
  process: ServerProcess
  /** SIGTERM (a single member exits quickly), wait for the ports, remove the data dir. */
  stop(): Promise<void>
  /** SIGKILL, wait for the ports, remove the data dir. */
  kill(): Promise<void>
}

interface Member {
  name: string
  clientPort: number
  peerPort: number
  dataDir: string
}

const clientUrl = (m: Member) => `http://${LOOPBACK}:${m.clientPort}`
const peerUrl = (m: Member) => `http://${LOOPBACK}:${m.peerPort}`

function spawnMember(etcd: string, m: Member, all: Member[], t: EtcdTimings): ServerProcess {
  mkdirSync(m.dataDir, { recursive: true, mode: 0o700 })
  return spawnServer({
    name: `etcd-${m.name}`,
    logFile: `${m.dataDir}.log`,
    ports: [m.clientPort, m.peerPort],
    cmd: [
      etcd,
      "--name",
      m.name,
      "--data-dir",
      m.dataDir,
      "--listen-client-urls",
      clientUrl(m),
      "--advertise-client-urls",
      clientUrl(m),
      "--listen-peer-urls",
      peerUrl(m),
      "--initial-advertise-peer-urls",
      peerUrl(m),
      "--initial-cluster",
      all.map((x) => `${x.name}=${peerUrl(x)}`).join(","),
      // The same for every member, unique per cluster so stray peers from another run are refused.
      "--initial-cluster-token",
      `oprc-${all[0]!.peerPort}`,
      "--initial-cluster-state",
      "new",
      "--heartbeat-interval",
      String(t.heartbeatMs),
      "--election-timeout",
      String(t.electionMs),
      "--logger",
      "zap",
      "--log-level",
      "error",
    ],
  })
}

async function startMember(m: Member, all: Member[], t: EtcdTimings, readyTimeoutMs: number): Promise<ServerProcess> {
  const sp = spawnMember(await binary("etcd"), m, all, t)
  try {
    await waitForHealthy(m, readyTimeoutMs, diedWith(sp))
    return sp
  } catch (e) {
    await sp.kill9()
    throw e
  }
}

// /health is true only once the member sees a leader and can serve; faster to poll than etcdctl.
const waitForHealthy = (m: Member, timeoutMs: number, abortIf?: () => string | undefined) =>
  waitForHttp(
    `${clientUrl(m)}/health`,
    (s, body) => s === 200 && body.includes("\"true\""),
    timeoutMs,
    abortIf ? { abortIf } : {},
  )

export interface StartEtcdOptions {
  timings?: EtcdTimings
  readyTimeoutMs?: number
}

export function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdServer> {
  return retryOnPortClash(async () => {
    const base = makeTempDir("etcd")
    try {
      const [clientPort, peerPort] = (await freePorts(2)) as [number, number]
      const m: Member = { name: "s1", clientPort, peerPort, dataDir: join(base, "s1") }
      const sp = await startMember(m, [m], opts.timings ?? SINGLE_TIMINGS, opts.readyTimeoutMs ?? 10_000)
      const done = (f: () => Promise<void>) => async () => {
        await f()
        removeTempDir(base)
      }
      return {
        endpoints: [clientUrl(m)],
        pid: sp.pid,
        process: sp,
        stop: done(() => sp.stop(5000)),
        kill: done(() => sp.kill9()),
      }
    } catch (e) {
      removeTempDir(base)
      throw e
    }
  })
}

export interface EtcdCluster {
  endpoints: string[]
  /** Current member processes (a restarted member gets a new one). */
  members(): ServerProcess[]
  pids(): number[]
  /** SIGKILL member i (its data dir stays for restart). */
  kill(i: number): Promise<void>
  /** Start member i again on its old data dir; resolves once it reports healthy. */
  restart(i: number): Promise<void>
  /** Index of the member every live member agrees is leader; waits up to timeoutMs for one. */
  leaderIndex(timeoutMs?: number): Promise<number>
  /** SIGKILL everything (a SIGTERM'd cluster takes ~8 s to exit) and remove the data dirs. */
  stop(): Promise<void>
}

interface StatusResponse {
  header?: { member_id?: string }
  leader?: string
}

async function memberStatus(m: Member): Promise<{ id: string; leader: string } | undefined> {
  const res = await fetch(`${clientUrl(m)}/v3/maintenance/status`, {
    method: "POST",
    body: "{}",
    signal: AbortSignal.timeout(1000),
  })
  if (!res.ok) return undefined
  const s = (await res.json()) as StatusResponse
  const id = s.header?.member_id
  return id && s.leader && s.leader !== "0" ? { id, leader: s.leader } : undefined
}

export function startEtcdCluster(size = 3, opts: StartEtcdOptions = {}): Promise<EtcdCluster> {
  const timings = opts.timings ?? CLUSTER_TIMINGS
  const readyTimeoutMs = opts.readyTimeoutMs ?? 20_000
  return retryOnPortClash(async () => {
    const base = makeTempDir("etcd-cluster")
    const ports = await freePorts(size * 2)
    const members: Member[] = Array.from({ length: size }, (_, i) => ({
      name: `m${i + 1}`,
      clientPort: ports[2 * i]!,
      peerPort: ports[2 * i + 1]!,
      dataDir: join(base, `m${i + 1}`),
    }))
    const etcd = await binary("etcd")
    const procs: (ServerProcess | undefined)[] = []
    const killAll = () => Promise.all(procs.map((p) => p?.kill9()))
    try {
      // All members first: none becomes healthy until a quorum is up.
      for (const m of members) procs.push(spawnMember(etcd, m, members, timings))
      await Promise.all(members.map((m, i) => waitForHealthy(m, readyTimeoutMs, diedWith(procs[i]!))))
    } catch (e) {
      await killAll()
      removeTempDir(base)
      throw e
    }
    const member = (i: number) => {
      if (!members[i]) throw new Error(`no etcd member ${i} (size ${size})`)
      return members[i]
    }
    return {
      endpoints: members.map(clientUrl),
      members: () => procs.filter((p): p is ServerProcess => p !== undefined),
      pids: () => procs.flatMap((p) => (p?.alive() ? [p.pid] : [])),
      async kill(i) {
        member(i)
        await procs[i]?.kill9()
      },
      async restart(i) {
        const m = member(i)
        if (procs[i]?.alive()) throw new Error(`etcd member ${i} is still running`)
        // On an existing data dir etcd ignores the --initial-cluster* flags and rejoins from its WAL.
        procs[i] = await startMember(m, members, timings, readyTimeoutMs)
      },
      async leaderIndex(timeoutMs = 10_000) {
        return waitFor("etcd leader", async () => {
          const alive = members.filter((_, i) => procs[i]?.alive())
          const st = await Promise.all(alive.map((m) => memberStatus(m).catch(() => undefined)))
          const leaders = new Set(st.map((s) => s?.leader))
          if (leaders.size !== 1 || st.some((s) => s === undefined)) return undefined
          const idx = alive.findIndex((_, j) => st[j]!.id === st[0]!.leader)
          return idx < 0 ? undefined : members.indexOf(alive[idx]!)
        }, { timeoutMs })
      },
      async stop() {
        await killAll()
        removeTempDir(base)
      },
    }
  })
}
