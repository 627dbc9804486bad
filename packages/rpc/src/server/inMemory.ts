import { createRouterTransport, type Transport } from "@connectrpc/connect"
import { type Context, Effect } from "effect"
import { type Authorizer, makeCallRunner } from "./CallRunner"
import type { RpcService } from "./rpcService"

/**
 * The services' handlers behind a Connect `Transport` with no socket: connect-es's router
 * transport, driven by the same CallRunner as the one-port server (authorizer, server span,
 * metrics, the edge error mapper). For handler and service tests that need no network; what the
 * HTTP edge adds (strict JSON, body limits, REST, drain) stays with the server's own tests.
 */
export const inMemoryTransport = <R>(
  services: ReadonlyArray<RpcService<R>>,
  options: { readonly authorize?: Authorizer } = {},
): Effect.Effect<Transport, never, R> =>
  Effect.gen(function*() {
    const base = (yield* Effect.context<R>()) as Context.Context<never>
    const mounts = yield* Effect.forEach(services, (s) => s.mount)
    const runner = makeCallRunner({ authorize: options.authorize })
    return createRouterTransport((router) => mounts.forEach((mount) => mount(router, runner, base)))
  })
