import type { DescMethod, DescService } from "@bufbuild/protobuf"
import { type Cause, type Context, Effect, Exit, Stream } from "effect"
import { recordRpc, withServerSpan } from "@oprc/observability"
import { codeName, type EdgeError, logIfInternal, mapCause, toConnectError } from "../errors"
import type { CallContext } from "./rpcService"

/**
 * Decides whether a call may proceed (bearer tokens, roles). Fails with Unauthenticated or
 * PermissionDenied; the same hook guards RPC procedures and REST routes.
 */
export type Authorizer = (
  call: { readonly procedure: string; readonly headers: Headers },
) => Effect.Effect<void, EdgeError>

/** Runs handler effects for Connect: auth, server span, metrics, error mapping at the edge. */
export interface CallRunner {
  readonly unary: <A, R>(
    service: DescService,
    method: DescMethod,
    call: CallContext,
    /** The handler's services merged with `base` once, at mount time (not per call). */
    context: Context.Context<R>,
    effect: Effect.Effect<A, EdgeError, R>,
  ) => Promise<A>
  readonly stream: <A, R>(
    service: DescService,
    method: DescMethod,
    call: CallContext,
    context: Context.Context<R>,
    stream: Stream.Stream<A, EdgeError, R>,
  ) => AsyncIterable<A>
}

export const makeCallRunner = (options: {
  readonly authorize: Authorizer | undefined
  /** Services every call needs (logger, tracer, health); captured once from the server layer. */
  readonly base: Context.Context<never>
  readonly onStart: () => void
  readonly onEnd: () => void
}): CallRunner => {
  const guard = (
    call: CallContext,
  ) => (options.authorize ? options.authorize({ procedure: call.procedure, headers: call.headers }) : Effect.void)

  const unary: CallRunner["unary"] = async (service, method, call, context, effect) => {
    const started = performance.now()
    const seconds = () => (performance.now() - started) / 1000
    options.onStart()
    try {
      const program = withServerSpan(
        `rpc ${service.typeName}/${method.name}`,
        call.headers,
        { "rpc.system": "connect_rpc", "rpc.service": service.typeName, "rpc.method": method.name },
        Effect.andThen(guard(call), effect),
      ).pipe(
        // The success path records its metrics inside the same run: one runtime entry per call.
        Effect.tap(() => recordRpc({ service: service.typeName, method: method.name, code: "ok", seconds: seconds() })),
        Effect.provideContext(context),
      )
      const exit = await Effect.runPromiseExit(program, { signal: call.signal })
      if (Exit.isSuccess(exit)) return exit.value
      const mapped = mapCause(exit.cause)
      Effect.runFork(
        Effect.andThen(
          logIfInternal(mapped, exit.cause, call.procedure),
          recordRpc({
            service: service.typeName,
            method: method.name,
            code: codeName(mapped.code),
            seconds: seconds(),
          }),
        ).pipe(Effect.provideContext(context)),
      )
      throw toConnectError(mapped)
    } finally {
      options.onEnd()
    }
  }

  const stream: CallRunner["stream"] = (service, method, call, context, source) => {
    const ctx = context
    const started = performance.now()
    let code = "ok"
    const mapped = Stream.unwrap(Effect.as(guard(call), source)).pipe(
      Stream.catchCause((cause) => {
        const m = mapCause(cause as Cause.Cause<unknown>)
        code = codeName(m.code)
        return Stream.fromEffect(
          Effect.andThen(
            logIfInternal(m, cause as Cause.Cause<unknown>, call.procedure),
            Effect.fail(toConnectError(m)),
          ),
        )
      }),
      Stream.ensuring(
        Effect.suspend(() =>
          recordRpc({
            service: service.typeName,
            method: method.name,
            code,
            seconds: (performance.now() - started) / 1000,
          })
        ),
      ),
    )
    return Stream.toAsyncIterableWith(mapped, ctx)
  }

  return { unary, stream }
}
