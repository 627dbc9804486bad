import type * as k8s from "@kubernetes/client-node"
import { Effect, Schedule } from "effect"
import type { KubeClient } from "./KubeClient"

export interface LeaderElectionOptions {
  readonly leaseName: string
  readonly identity: string
  readonly leaseDurationMs: number
  /** Called on every change of leadership (true: this replica holds the Lease now). */
  readonly onChange: (leader: boolean) => Effect.Effect<void>
}

const micro = (d: Date) => d.toISOString().replace("Z", "000Z")

/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it: the
 * holder renews every third of the lease duration; another replica takes the Lease over (a PUT
 * guarded by resourceVersion, so only one of several candidates wins) once renewTime is older
 * than the duration. A holder that cannot renew within the duration stops leading by itself.
 */
export const runLeaderElection = (kube: KubeClient, options: LeaderElectionOptions) =>
  Effect.gen(function*() {
    let leader = false
    let lastRenew = 0
    const set = (
      next: boolean,
    ) => (next === leader ? Effect.void : Effect.suspend(() => ((leader = next), options.onChange(next))))
    const seconds = Math.max(1, Math.ceil(options.leaseDurationMs / 1000))

    const attempt = Effect.tryPromise(async (): Promise<boolean> => {
      const now = new Date()
      const lease = await kube.readLease(options.leaseName)
      if (lease === undefined) {
        await kube.createLease({
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: options.leaseName, namespace: kube.namespace },
          spec: {
            holderIdentity: options.identity,
            leaseDurationSeconds: seconds,
            acquireTime: micro(now) as never,
            renewTime: micro(now) as never,
            leaseTransitions: 0,
          },
        })
        return true
      }
      const spec = lease.spec ?? {}
      const renewed = spec.renewTime === undefined ? 0 : new Date(spec.renewTime as unknown as string).getTime()
      const mine = spec.holderIdentity === options.identity
      // The holder's own duration decides expiry (milliseconds matter in tests: the field is in seconds).
      const expired = renewed + options.leaseDurationMs < now.getTime() || (spec.holderIdentity ?? "") === ""
      if (!mine && !expired) return false
      const next: k8s.V1Lease = {
        ...lease,
        spec: {
          ...spec,
          holderIdentity: options.identity,
          leaseDurationSeconds: seconds,
          renewTime: micro(now) as never,
          ...(mine ? {} : { acquireTime: micro(now) as never, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
        },
      }
      await kube.replaceLease(next)
      return true
    })

    const step = Effect.gen(function*() {
      // Bounded: a hung API call must not keep a holder leading past its lease.
      const result = yield* Effect.result(
        attempt.pipe(Effect.timeout(Math.max(100, Math.floor(options.leaseDurationMs / 2)))),
      )
      const now = Date.now()
      if (result._tag === "Success" && result.success) {
        lastRenew = now
        yield* set(true)
      } else if (result._tag === "Success" || now - lastRenew > options.leaseDurationMs) {
        // Someone else holds it, or we could not renew in time: stop reconciling.
        yield* set(false)
      }
    })
    yield* step.pipe(Effect.repeat(Schedule.spaced(Math.max(50, Math.floor(options.leaseDurationMs / 3)))))
  })
