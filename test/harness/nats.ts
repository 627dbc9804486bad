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
  waitForHttp,
} from "./process.ts"
import { binary } from "./system.ts"

export interface NatsServer {
  /** Client URL, `nats://127.0.0.1:port`. */
  url: string
  monitorUrl: string
  pid: number
  process: ServerProcess
  stop(): Promise<void>
  kill(): Promise<void>
}

interface Node {
  name: string
  clientPort: number
  monitorPort: number
  clusterPort?: number
  storeDir: string
}

const clientUrl = (n: Node) => `nats://${LOOPBACK}:${n.clientPort}`
const monitorUrl = (n: Node) => `http://${LOOPBACK}:${n.monitorPort}`

function spawnNode(bin: string, n: Node, cluster?: { name: string; routes: string[] }): ServerProcess {
  mkdirSync(n.storeDir, { recursive: true, mode: 0o700 })
  const clusterArgs = cluster && n.clusterPort
    ? [
      "--cluster_name",
      cluster.name,
      "--cluster",
      `nats://${LOOPBACK}:${n.clusterPort}`,
      "--routes",
      cluster.routes.join(","),
    ]
    : []
  const ports = [n.clientPort, n.monitorPort, ...(n.clusterPort ? [n.clusterPort] : [])]
  return spawnServer({
    name: `nats-${n.name}`,
    logFile: `${n.storeDir}.log`,
    ports,
    cmd: [
      bin,
      "-a",
      LOOPBACK,
      "-p",
      String(n.clientPort),
      "-m",
      String(n.monitorPort),
      "-js",
      "-sd",
      n.storeDir,
      "-n",
      n.name,
      ...clusterArgs,
    ],
  })
}

// In 2.9 /healthz answers 503 until JetStream has a meta leader and local streams are current.
// After a node restarts on an old store, a consumer nobody is pulling from can stay "not current"
// for a long time (seen: > 45 s), so restarts only wait for JetStream to be enabled again; clients
// retry while the cluster finishes recovering, as they must in production.
const waitHealthy = (n: Node, sp: ServerProcess, timeoutMs: number, mode: "strict" | "jetstream" = "strict") =>
  waitForHttp(
    `${monitorUrl(n)}/healthz${mode === "jetstream" ? "?js-enabled-only=true" : ""}`,
    (s) => s === 200,
    timeoutMs,
    {
      abortIf: diedWith(sp),
    },
  )

export interface StartNatsOptions {
  readyTimeoutMs?: number
}

export function startNats(opts: StartNatsOptions = {}): Promise<NatsServer> {
  return retryOnPortClash(async () => {
    const bin = await binary("nats-server")
    const base = makeTempDir("nats")
    let sp: ServerProcess | undefined
    try {
      const [clientPort, monitorPort] = (await freePorts(2)) as [number, number]
      const n: Node = { name: "single", clientPort, monitorPort, storeDir: join(base, "store") }
      sp = spawnNode(bin, n)
      await waitHealthy(n, sp, opts.readyTimeoutMs ?? 10_000)
      const proc = sp
      const done = (f: () => Promise<void>) => async () => {
        await f()
        removeTempDir(base)
      }
      return {
        url: clientUrl(n),
        monitorUrl: monitorUrl(n),
        pid: proc.pid,
        process: proc,
        stop: done(() => proc.stop(5000)),
        kill: done(() => proc.kill9()),
      }
    } catch (e) {
      await sp?.kill9()
      removeTempDir(base)
      throw e
    }
  })
}

export interface NatsCluster {
  /** Client URLs of every node. */
  urls: string[]
  monitorUrls: string[]
  members(): ServerProcess[]
  pids(): number[]
  /** SIGKILL node i (its store dir stays for restart). */
  kill(i: number): Promise<void>
  /** Start node i again on its old store dir; resolves once its /healthz is 200 (replicas current). */
  restart(i: number): Promise<void>
  /** SIGKILL everything and remove the store dirs. */
  stop(): Promise<void>
}

export function startNatsCluster(size = 3, opts: StartNatsOptions = {}): Promise<NatsCluster> {
  const readyTimeoutMs = opts.readyTimeoutMs ?? 15_000
  return retryOnPortClash(async () => {
    const bin = await binary("nats-server")
    const base = makeTempDir("nats-cluster")
    const ports = await freePorts(size * 3)
    const nodes: Node[] = Array.from({ length: size }, (_, i) => ({
      name: `n${i + 1}`,
      clientPort: ports[3 * i]!,
      monitorPort: ports[3 * i + 1]!,
      clusterPort: ports[3 * i + 2]!,
      storeDir: join(base, `n${i + 1}`),
    }))
    // Each node may list itself among the routes; nats-server skips the self-route.
    const cluster = { name: `oprc-${ports[0]}`, routes: nodes.map((n) => `nats://${LOOPBACK}:${n.clusterPort}`) }
    const procs: ServerProcess[] = []
    const killAll = () => Promise.all(procs.map((p) => p.kill9()))
    try {
      for (const n of nodes) procs.push(spawnNode(bin, n, cluster))
      await Promise.all(nodes.map((n, i) => waitHealthy(n, procs[i]!, readyTimeoutMs)))
    } catch (e) {
      await killAll()
      removeTempDir(base)
      throw e
    }
    const node = (i: number) => {
      if (!nodes[i]) throw new Error(`no NATS node ${i} (size ${size})`)
      return nodes[i]
    }
    return {
      urls: nodes.map(clientUrl),
      monitorUrls: nodes.map(monitorUrl),
      members: () => [...procs],
      pids: () => procs.flatMap((p) => (p.alive() ? [p.pid] : [])),
      async kill(i) {
        node(i)
        await procs[i]!.kill9()
      },
      async restart(i) {
        const n = node(i)
        if (procs[i]!.alive()) throw new Error(`NATS node ${i} is still running`)
        const sp = spawnNode(bin, n, cluster)
        procs[i] = sp
        try {
          await waitHealthy(n, sp, readyTimeoutMs, "jetstream")
        } catch (e) {
          await sp.kill9()
          throw e
        }
      },
      async stop() {
        await killAll()
        removeTempDir(base)
      },
    }
  })
}
