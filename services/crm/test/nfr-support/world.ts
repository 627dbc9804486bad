import { join } from "node:path"
import { Effect, Layer, Schema } from "effect"
import { createClient } from "@connectrpc/connect"
import { createConnectTransport } from "@connectrpc/connect-node"
import { type EnforcementMode, Nfr as NfrSchema } from "@oprc/models"
import { odgmv1 } from "@oprc/proto"
import { serve, startServer } from "@oprc/rpc"
import { freePort, type ServerProcess, spawnServer, waitForHttp } from "@oprc/test-harness"
import { NfrTarget, type NfrUnitReport, type NfrWorkload, sdRoute } from "../../src/nfr"

/**
 * Real processes for the NFR tests: an ODGM process, function replicas of nfr-support/worker.ts
 * started and stopped on `scale`, registered with ODGM, and the CRM's SD endpoint served on a
 * real port. Replicas are real servers; only the bookkeeping the CRM core does is done here.
 */

export const repoRoot = join(import.meta.dir, "../../../..")
const bun = process.execPath
export const workerEntry = join(import.meta.dir, "worker.ts")
export const CLS = "nfr.Worker"

export const spawnOdgm = async () => {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const proc = spawnServer({
    name: `nfr-odgm-${port}`,
    cmd: [bun, join(repoRoot, "services/odgm/src/main.ts"), "--host", "127.0.0.1", "--port", String(port), "--storage", "memory"],
    ports: [port],
    env: { OPRC_TELEMETRY_LOG_LEVEL: "warn" },
    cwd: repoRoot,
  })
  await waitForHttp(`${url}/readyz`, (s) => s === 200, 30_000, { abortIf: () => (proc.alive() ? undefined : `odgm exited: ${proc.logTail()}`) })
  return { url, proc }
}

interface Replica {
  readonly id: string
  readonly url: string
  readonly proc: ServerProcess
}

export interface WorkloadOptions {
  readonly unitId: string
  readonly enforcement: EnforcementMode
  readonly nfr: Partial<typeof NfrSchema.Type>
  readonly minScale: number
  readonly maxScale: number
  readonly workMs: number
}

/** One function (`work` of nfr.Worker) with real replicas behind ODGM. */
export const makeWorkload = (odgmUrl: string, opts: WorkloadOptions) => {
  const replicas: Array<Replica> = []
  const reports: Array<NfrUnitReport> = []
  /** Every scale call: when it came, and when its replicas were serving (registered with ODGM). */
  const scaleCalls: Array<{ at: number; replicas: number; doneAt?: number }> = []
  const collections = createClient(odgmv1.CollectionService, createConnectTransport({ baseUrl: odgmUrl, httpVersion: "1.1" }))
  let seq = 0

  const register = () =>
    collections.applyCollection({
      collection: {
        name: CLS,
        partitionCount: 1,
        // ODGM round-robins over every listed replica.
        functions: { work: { url: replicas[0]?.url ?? "", urls: replicas.map((r) => r.url), stateless: true } },
      },
    })

  const startReplica = async () => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const proc = spawnServer({
      name: `nfr-worker-${port}`,
      cmd: [bun, workerEntry],
      ports: [port],
      env: { PORT: String(port), HOST: "127.0.0.1", WORK_MS: String(opts.workMs), ODGM_URL: odgmUrl },
      cwd: repoRoot,
    })
    await waitForHttp(`${url}/readyz`, (s) => s === 200, 20_000, { abortIf: () => (proc.alive() ? undefined : `worker exited: ${proc.logTail()}`) })
    replicas.push({ id: `r${seq++}`, url, proc })
  }

  const scaleTo = async (n: number) => {
    while (replicas.length < n) await startReplica()
    // Newest first out; ODGM stops routing to it before it stops.
    const going = replicas.splice(n)
    await register()
    await Promise.all(going.map((r) => r.proc.stop(3000)))
    if (going.length === 0) await register()
  }

  const workload = (): NfrWorkload => ({
    unitId: opts.unitId,
    deploymentKey: "nfr",
    generation: 1,
    cls: CLS,
    function: "Worker.fn",
    bindings: ["work"],
    nfr: Schema.decodeUnknownSync(NfrSchema)(opts.nfr),
    enforcement: opts.enforcement,
    minScale: opts.minScale,
    maxScale: opts.maxScale,
    desiredReplicas: replicas.length,
    replicas: replicas.map((r) => ({ id: r.id, url: r.url, ready: true })),
  })

  const impl = NfrTarget.of({
    workloads: Effect.sync(() => [workload()]),
    odgmUrls: Effect.succeed([odgmUrl]),
    scale: (_unit, _fn, n) =>
      Effect.promise(async () => {
        const call: { at: number; replicas: number; doneAt?: number } = { at: Date.now(), replicas: n }
        scaleCalls.push(call)
        await scaleTo(n)
        call.doneAt = Date.now()
      }),
    report: (r) => Effect.sync(() => void reports.push(r)),
  })

  return {
    impl,
    target: Layer.succeed(NfrTarget)(impl),
    replicas,
    reports,
    scaleCalls,
    scaleTo,
    stop: () => Promise.all(replicas.splice(0).map((r) => r.proc.stop(3000))),
  }
}

/** The CRM's service-discovery route on a real port, over the given target. */
export const startSdServer = (target: Layer.Layer<NfrTarget>) =>
  startServer(
    serve(
      { name: "nfr-sd", version: "test", host: "127.0.0.1", port: 0, bodyLimitBytes: 1 << 20, shutdownGraceMs: 200 },
      { rest: [sdRoute] },
    ).pipe(Layer.provide(target)),
  )

/**
 * A bounded closed-loop load generator: `concurrency` callers invoking `work` through ODGM's
 * REST gateway back to back until `durationMs` has passed or `stop` fires. Returns calls,
 * failures and calls per answering process.
 */
export const load = async (odgmUrl: string, concurrency: number, durationMs: number, cls = CLS, stop?: AbortSignal) => {
  const deadline = Date.now() + durationMs
  const running = () => Date.now() < deadline && !stop?.aborted
  let ok = 0
  let failed = 0
  const pids = new Map<number, number>()
  const caller = async () => {
    while (running()) {
      try {
        const res = await fetch(`${odgmUrl}/api/class/${cls}/0/invokes/work`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "{}",
          signal: AbortSignal.timeout(5000),
        })
        const body = (await res.json()) as { pid?: number }
        if (res.ok) {
          ok++
          if (typeof body.pid === "number") pids.set(body.pid, (pids.get(body.pid) ?? 0) + 1)
        } else failed++
      } catch {
        failed++
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, caller))
  return { ok, failed, pids }
}
