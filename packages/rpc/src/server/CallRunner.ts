import type { DescMethod, DescService } from "@bufbuild/protobuf"
import { type Cause, type Context, Effect, Exit, Stream } from "effect"
import { countRpc, withServerSpan } from "@oprc/observability"
import { codeName, type EdgeError, logIfInternal, mapCause, toConnectError } from "../errors"
import type { CallContext } from "./rpcService"

/**
 * Decides whether a call may proceed (bearer tokens, roles). Fails with Unauthenticated or
 * PermissionDenied; the same hook guards RPC procedures and REST routes.
 */
export type Authorizer = (call: AuthorizedCall) => Effect.Effect<void, EdgeError>

export interface AuthorizedCall {
  readonly procedure: string
  readonly headers: Headers
  /** The same headers as a plain record by lower-case name, when the transport has them so. */
  readonly fields?: Readonly<Record<string, string>> | undefined
}

/** `effect` after the authorizer's check; without an authorizer, `effect` itself (no extra step per call). */
export const authorized = <A, E, R>(
  authorize: Authorizer | undefined,
  call: AuthorizedCall,
  effect: Effect.Effect<A, E, R>,
): Effect.Effect<A, E | EdgeError, R> => authorize === undefined ? effect : Effect.andThen(authorize(call), effect)

/** What a unary call is run with. */
type UnaryCall<A, R> = [
  service: DescService,
  method: DescMethod,
  call: CallContext,
  /** The handler's services merged with `base` once, at mount time (not per call). */
  context: Context.Context<R>,
  effect: Effect.Effect<A, EdgeError, R>,
]

/** Runs handler effects for Connect: auth, server span, metrics, error mapping at the edge. */
export interface CallRunner {
  readonly unary: <A, R>(...call: UnaryCall<A, R>) => Promise<A>
  /**
   * `unary` without a promise when the handler's effect completes without waiting (a cached
   * read, an echo): the answer, or a thrown ConnectError, at once; otherwise a promise of them.
   * The one-port server's own Connect path uses it; `onAbort` is registered only if the call waits.
   */
  readonly unaryNow: <A, R>(...call: [...UnaryCall<A, R>, onAbort: AbortHook]) => A | Promise<A>
  readonly stream: <A, R>(
    service: DescService,
    method: DescMethod,
    call: CallContext,
    context: Context.Context<R>,
    stream: Stream.Stream<A, EdgeError, R>,
  ) => AsyncIterable<A>
}

/**
 * How a running call learns that it should stop (the client left, its deadline passed): it
 * registers `interrupt` and gets back the way to unregister it. The front's own connections call
 * it directly (no AbortController and listener per call); a fetch Request's signal is adapted by
 * `signalHook`.
 */
export type AbortHook = (interrupt: () => void) => () => void

const noop = () => {}

/** The hook of an abort signal, read only when a call first registers. */
export const signalHook = (signal: () => AbortSignal): AbortHook => (interrupt) => {
  const s = signal()
  if (s.aborted) {
    interrupt()
    return noop
  }
  s.addEventListener("abort", interrupt, { once: true })
  return () => s.removeEventListener("abort", interrupt)
}

/**
 * Runs `program` to its exit: at once when it never waits (nothing registered), else a promise of
 * it, interrupted when `onAbort` says so (registered only then).
 */
export const exitNow = <A, E>(
  program: Effect.Effect<A, E>,
  onAbort: AbortHook,
): Exit.Exit<A, E> | Promise<Exit.Exit<A, E>> => {
  const fiber = Effect.runFork(program)
  const now = fiber.pollUnsafe()
  if (now !== undefined) return now
  // The effect waits (I/O, a timer): from here on a client that leaves interrupts it.
  const off = onAbort(() => fiber.interruptUnsafe())
  return new Promise((resolve) =>
    fiber.addObserver((exit) => {
      off()
      resolve(exit)
    })
  )
}

const seconds = (started: number) => (performance.now() - started) / 1000

export const makeCallRunner = (options: { readonly authorize: Authorizer | undefined }): CallRunner => {
  const unaryNow: CallRunner["unaryNow"] = (service, method, call, context, effect, onAbort) => {
    const started = performance.now()
    const settle = <A>(exit: Exit.Exit<A, EdgeError>): A => {
      if (Exit.isSuccess(exit)) {
        countRpc({ service: service.typeName, method: method.name, code: "ok", seconds: seconds(started) })
        return exit.value
      }
      const mapped = mapCause(exit.cause)
      countRpc({
        service: service.typeName,
        method: method.name,
        code: codeName(mapped.code),
        seconds: seconds(started),
      })
      Effect.runFork(logIfInternal(mapped, exit.cause, call.procedure).pipe(Effect.provideContext(context)))
      throw toConnectError(mapped)
    }
    const exit = exitNow(
      withServerSpan(
        `rpc ${service.typeName}/${method.name}`,
        call.fields ?? call.headers,
        { "rpc.system": "connect_rpc", "rpc.service": service.typeName, "rpc.method": method.name },
        authorized(options.authorize, call, effect),
      ).pipe(Effect.provideContext(context)),
      onAbort,
    )
    return (exit instanceof Promise ? exit.then(settle) : settle(exit)) as never
  }

  const unary: CallRunner["unary"] = async (service, method, call, context, effect) =>
    unaryNow(service, method, call, context, effect, signalHook(() => call.signal))

  const stream: CallRunner["stream"] = (service, method, call, context, source) => {
    const ctx = context
    const started = performance.now()
    let code = "ok"
    const mapped = Stream.unwrap(authorized(options.authorize, call, Effect.succeed(source))).pipe(
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
        Effect.sync(() =>
          countRpc({
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

  return { unary, unaryNow, stream }
}
