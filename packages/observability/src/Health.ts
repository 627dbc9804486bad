import { Context, Effect, Layer, Ref } from "effect"

export interface CheckResult {
  readonly name: string
  readonly ok: boolean
  readonly message?: string
}

export interface Readiness {
  readonly ready: boolean
  readonly checks: ReadonlyArray<CheckResult>
}

/**
 * Liveness and readiness of the process. Components register readiness checks (storage
 * reachable, NATS connected, ...); /readyz and grpc.health.v1 report them. Draining flips
 * everything to NOT_SERVING so load balancers stop sending traffic before the port closes.
 */
export class Health extends Context.Service<Health, {
  readonly register: (name: string, check: Effect.Effect<void, unknown>) => Effect.Effect<void>
  readonly readiness: Effect.Effect<Readiness>
  readonly setDraining: Effect.Effect<void>
  readonly draining: Effect.Effect<boolean>
}>()("oprc/observability/Health") {
  static readonly layer: Layer.Layer<Health> = Layer.effect(Health)(
    Effect.gen(function*() {
      const checks = yield* Ref.make(new Map<string, Effect.Effect<void, unknown>>())
      const draining = yield* Ref.make(false)
      const runCheck = (name: string, check: Effect.Effect<void, unknown>) =>
        check.pipe(
          Effect.timeout("2 seconds"),
          Effect.as<CheckResult>({ name, ok: true }),
          Effect.catchCause((cause) => Effect.succeed<CheckResult>({ name, ok: false, message: prettyCause(cause) })),
        )
      return {
        register: (name, check) => Ref.update(checks, (m) => new Map(m).set(name, check)),
        readiness: Effect.gen(function*() {
          if (yield* Ref.get(draining)) {
            return { ready: false, checks: [{ name: "draining", ok: false, message: "shutting down" }] }
          }
          const all = yield* Ref.get(checks)
          const results = yield* Effect.forEach([...all], ([name, check]) => runCheck(name, check), {
            concurrency: "unbounded",
          })
          return { ready: results.every((r) => r.ok), checks: results }
        }),
        setDraining: Ref.set(draining, true),
        draining: Ref.get(draining),
      }
    }),
  )
}

const prettyCause = (cause: unknown): string => {
  const text = String(cause)
  return text.length > 300 ? `${text.slice(0, 300)}…` : text
}
