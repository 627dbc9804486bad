// A CRM for tests: the real oprc.crm.v1 RuntimeService and ClusterInfoService contract over the
// network (gRPC, Connect, gRPC-Web on one port, via @oprc/rpc), with honest in-memory semantics:
// units are validated, Apply is idempotent per (id, generation) and ignores older generations, a
// rollout goes Deploying -> Running after `readyDelayMs`, Watch streams current state then changes.
// Tests can make it fail, hang or go slow, take it down and bring it back on the same port.
//
// Standalone: bun test/crm-test-server.ts --name edge --port 8088 [--availability 0.99] [--ready-ms 200]
import { create } from "@bufbuild/protobuf"
import { timestampFromMs } from "@bufbuild/protobuf/wkt"
import { Code, ConnectError } from "@connectrpc/connect"
import { Effect, Layer, PubSub, Stream } from "effect"
import {
  type DeploymentPhase,
  type DeploymentUnit,
  deploymentUnitFromProto,
  deploymentUnitToProto,
  NotFound,
  prefixViolations,
  protoEnum,
  Unauthenticated,
  ValidationError,
} from "@oprc/models"
import { commonv1, crmv1 } from "@oprc/proto"
import { type CallContext, rpcService, serve, startServer } from "@oprc/rpc"

export type FaultMode =
  | { readonly kind: "ok" }
  | { readonly kind: "fail"; readonly code?: Code; readonly message?: string }
  | { readonly kind: "hang" }
  | { readonly kind: "slow"; readonly ms: number }

export interface CrmTestServerOptions {
  readonly name: string
  /** 0 (default) picks a free port once; later restarts reuse it. */
  readonly port?: number
  readonly availability?: number
  readonly nodeCount?: number
  /** Time a rollout spends in Deploying before it is Running. */
  readonly readyDelayMs?: number
  /** When set, every call but health checks needs `Authorization: Bearer <token>`. */
  readonly token?: string
  readonly tls?: {
    readonly certFile: string
    readonly keyFile: string
    readonly caFile?: string
    readonly requireClientCert?: boolean
  }
}

export interface AppliedCall {
  readonly unitId: string
  readonly generation: number
  /** False when the same or an older generation was already applied (an idempotent re-send). */
  readonly changed: boolean
  readonly traceparent: string | undefined
}

interface UnitState {
  unit: DeploymentUnit
  status: crmv1.DeploymentUnitStatus
}

const condition = (type: string, ok: boolean, reason: string, message: string, generation: number) =>
  create(commonv1.ConditionSchema, {
    type,
    status: ok ? commonv1.ConditionStatus.TRUE : commonv1.ConditionStatus.FALSE,
    reason,
    message,
    lastTransitionTime: timestampFromMs(Date.now()),
    observedGeneration: BigInt(generation),
  })

export class CrmTestServer {
  mode: FaultMode = { kind: "ok" }
  healthy = true
  availability: number
  readonly applied: Array<AppliedCall> = []
  readonly units = new Map<string, UnitState>()
  private server: Awaited<ReturnType<typeof startServer>> | undefined
  private port: number
  private readonly changes = Effect.runSync(PubSub.unbounded<crmv1.DeploymentUnitStatus>())
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()

  private constructor(readonly options: CrmTestServerOptions) {
    this.port = options.port ?? 0
    this.availability = options.availability ?? 0.99
  }

  static async start(options: CrmTestServerOptions): Promise<CrmTestServer> {
    const crm = new CrmTestServer(options)
    await crm.up()
    return crm
  }

  get name(): string {
    return this.options.name
  }
  get url(): string {
    return `${this.options.tls ? "https" : "http"}://127.0.0.1:${this.port}`
  }
  get isUp(): boolean {
    return this.server !== undefined
  }

  /** Starts serving (again), on the same port as before; the units survive a down/up cycle. */
  async up(): Promise<void> {
    if (this.server) return
    this.server = await startServer(this.layer())
    this.port = this.server.port
  }

  /** Stops serving: connections are refused until up(). */
  async down(): Promise<void> {
    const s = this.server
    this.server = undefined
    await s?.stop()
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t)
    await this.down()
  }

  /** Applies that changed something, per unit (a duplicate dispatch shows up as changed: false). */
  appliedChanges(unitId: string): ReadonlyArray<AppliedCall> {
    return this.applied.filter((a) => a.unitId === unitId && a.changed)
  }

  /** Reports a unit in another phase, as a real driver would after a crash loop or recovery. */
  setPhase(unitId: string, phase: DeploymentPhase, message: string): void {
    const state = this.units.get(unitId)
    if (!state) throw new Error(`no unit ${unitId}`)
    this.publish(state, phase, message)
  }

  private publish(state: UnitState, phase: DeploymentPhase, message: string) {
    const generation = state.unit.generation
    state.status = create(crmv1.DeploymentUnitStatusSchema, {
      unitId: state.unit.id,
      phase: protoEnum.phase.toProto(phase),
      observedGeneration: BigInt(generation),
      message,
      updatedAt: timestampFromMs(Date.now()),
      conditions: [
        condition("Available", phase === "Running" || phase === "Degraded", phase, message, generation),
        condition(
          "Progressing",
          phase === "Deploying",
          phase === "Deploying" ? "NewGeneration" : "Settled",
          message,
          generation,
        ),
        condition("Degraded", phase === "Degraded" || phase === "Failed", phase, message, generation),
      ],
      functions: state.unit.functions.map((f) => ({
        function: f.key,
        desiredReplicas: Math.max(1, f.provision.minScale),
        readyReplicas: phase === "Running" ? Math.max(1, f.provision.minScale) : 0,
      })),
    })
    Effect.runSync(PubSub.publish(this.changes, state.status))
  }

  private faulty<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | ConnectError, R> {
    return Effect.suspend((): Effect.Effect<A, E | ConnectError, R> => {
      const m = this.mode
      switch (m.kind) {
        case "ok":
          return effect
        case "fail":
          return Effect.fail(
            new ConnectError(m.message ?? `${this.name}: injected failure`, m.code ?? Code.Unavailable),
          )
        case "hang":
          return Effect.never
        case "slow":
          return Effect.andThen(Effect.sleep(m.ms), effect)
      }
    })
  }

  private apply(unit: DeploymentUnit, call: CallContext): crmv1.DeploymentUnitStatus {
    const existing = this.units.get(unit.id)
    const changed = existing === undefined || unit.generation > existing.unit.generation
    this.applied.push({
      unitId: unit.id,
      generation: unit.generation,
      changed,
      traceparent: call.headers.get("traceparent") ?? undefined,
    })
    if (!changed) return existing.status
    const state: UnitState = { unit, status: create(crmv1.DeploymentUnitStatusSchema, {}) }
    this.units.set(unit.id, state)
    this.publish(state, "Deploying", `rolling out generation ${unit.generation}`)
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      if (this.units.get(unit.id) === state) this.publish(state, "Running", `generation ${unit.generation} is running`)
    }, this.options.readyDelayMs ?? 100)
    this.timers.add(timer)
    return state.status
  }

  private layer() {
    const self = this
    const runtime = rpcService(
      crmv1.RuntimeService,
      Effect.succeed({
        applyDeploymentUnit: (req: crmv1.ApplyDeploymentUnitRequest, call: CallContext) =>
          self.faulty(Effect.gen(function*() {
            if (req.unit === undefined) return yield* ValidationError.single("unit", "is required")
            const unit = yield* deploymentUnitFromProto(req.unit).pipe(Effect.mapError(prefixViolations("unit")))
            if (unit.cluster !== self.name) {
              return yield* ValidationError.single("unit.cluster", `this CRM manages cluster "${self.name}"`)
            }
            return { status: self.apply(unit, call) }
          })),
        deleteDeploymentUnit: (req: crmv1.DeleteDeploymentUnitRequest) =>
          self.faulty(Effect.sync(() => ({ existed: self.units.delete(req.unitId) }))),
        getDeploymentUnit: (req: crmv1.GetDeploymentUnitRequest) =>
          self.faulty(Effect.suspend(() => {
            const s = self.units.get(req.unitId)
            return s === undefined
              ? Effect.fail(new NotFound({ resource: "deployment unit", name: req.unitId }))
              : Effect.succeed({ unit: deploymentUnitToProto(s.unit), status: s.status })
          })),
        listDeploymentUnits: (req: crmv1.ListDeploymentUnitsRequest) =>
          self.faulty(Effect.sync(() => ({
            units: [...self.units.values()]
              .filter((s) => req.deploymentKey === "" || s.unit.deploymentKey === req.deploymentKey)
              .map((s) => ({ unit: deploymentUnitToProto(s.unit), status: s.status })),
          }))),
        // This CRM starts no processes, so no unit has logs.
        tailLogs: (req: crmv1.TailLogsRequest) =>
          self.faulty(
            Effect.fail(
              new NotFound({ resource: "replica log", name: `${req.unitId}/${req.function}/${req.replica}` }),
            ),
          ),
        watchDeploymentUnits: (req: crmv1.WatchDeploymentUnitsRequest) =>
          Stream.unwrap(self.faulty(Effect.gen(function*() {
            const sub = yield* PubSub.subscribe(self.changes)
            const wanted = (s: crmv1.DeploymentUnitStatus) => req.unitId === "" || s.unitId === req.unitId
            const current = [...self.units.values()].map((s) => s.status).filter(wanted)
            return Stream.concat(Stream.fromIterable(current), Stream.fromSubscription(sub).pipe(Stream.filter(wanted)))
              .pipe(
                Stream.map((status) => ({ status })),
              )
          }))),
      }),
    )
    const info = rpcService(
      crmv1.ClusterInfoService,
      Effect.succeed({
        getClusterInfo: (_req: crmv1.GetClusterInfoRequest) =>
          self.faulty(Effect.sync(() => {
            const nodes = self.options.nodeCount ?? 3
            return {
              cluster: self.name,
              driver: "process",
              healthy: self.healthy,
              nodeCount: nodes,
              readyNodes: self.healthy ? nodes : 0,
              availability: self.availability,
              message: self.healthy ? "all nodes ready" : "nodes not ready",
              version: "test",
            }
          })),
      }),
    )
    const token = this.options.token
    return serve(
      {
        name: `crm-${this.name}`,
        version: "test",
        host: "127.0.0.1",
        port: this.port,
        bodyLimitBytes: 4 * 1024 * 1024,
        shutdownGraceMs: 100,
        ...(this.options.tls ? { tls: this.options.tls } : {}),
      },
      {
        rpc: [runtime, info],
        ...(token === undefined ? {} : {
          authorize: ({ procedure, headers }) =>
            procedure.startsWith("/grpc.health.v1.") || headers.get("authorization") === `Bearer ${token}`
              ? Effect.void
              : Effect.fail(new Unauthenticated({ reason: `${this.name}: missing or wrong bearer token` })),
        }),
      },
    ).pipe(Layer.orDie)
  }
}

if (import.meta.main) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`)
    return i >= 0 ? process.argv[i + 1] : undefined
  }
  const crm = await CrmTestServer.start({
    name: arg("name") ?? "local",
    port: Number(arg("port") ?? 8088),
    availability: Number(arg("availability") ?? 0.99),
    readyDelayMs: Number(arg("ready-ms") ?? 200),
  })
  console.log(`crm-test-server ${crm.name} listening on ${crm.url}`)
  process.on("SIGTERM", () => void crm.close().then(() => process.exit(0)))
  process.on("SIGINT", () => void crm.close().then(() => process.exit(0)))
}
