import type {
  DescMessage,
  DescMethod,
  DescMethodServerStreaming,
  DescMethodUnary,
  DescService,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf"
import type { ConnectRouter, HandlerContext, ServiceImpl } from "@connectrpc/connect"
import { Context, Effect, type Stream } from "effect"
import type { EdgeError } from "../errors"
import type { AbortHook, CallRunner } from "./CallRunner"

/** What a handler knows about the call besides the request message. */
export interface CallContext {
  /** "/oprc.pm.v1.PackageService/CreatePackage" */
  readonly procedure: string
  readonly headers: Headers
  /**
   * The same headers as a plain record by lower-case name, when the transport has them so (the
   * server span reads its parent from these without building `headers`).
   */
  readonly fields?: Readonly<Record<string, string>> | undefined
  readonly signal: AbortSignal
  /** Remaining deadline the client set, if any. */
  readonly timeoutMs: number | undefined
}

type UnaryEffect<I extends DescMessage, O extends DescMessage, R> = (
  request: MessageShape<I>,
  call: CallContext,
) => Effect.Effect<MessageInitShape<O>, EdgeError, R>

type StreamEffect<I extends DescMessage, O extends DescMessage, R> = (
  request: MessageShape<I>,
  call: CallContext,
) => Stream.Stream<MessageInitShape<O>, EdgeError, R>

export type EffectMethodImpl<M extends DescMethod, R> = M extends DescMethodUnary<infer I, infer O>
  ? UnaryEffect<I, O, R>
  : M extends DescMethodServerStreaming<infer I, infer O> ? StreamEffect<I, O, R>
  : never

/**
 * A Connect service implemented with Effects: unary methods return an Effect, server-streaming
 * methods a Stream. Failures are tagged domain errors; the server maps them at the edge.
 */
export type EffectServiceImpl<S extends DescService, R> = {
  readonly [K in keyof S["method"]]: EffectMethodImpl<S["method"][K], R>
}

/**
 * A unary method callable without connect-es (the one-port server's own Connect path over
 * HTTP/1.1): the decoded request in, the handler's answer (a message or its init shape) out,
 * through the same CallRunner as the connect-es routes.
 */
export interface DirectUnary {
  readonly service: DescService
  readonly method: DescMethodUnary
  /**
   * The answer, or a thrown ConnectError: at once when the handler did not wait, else a promise.
   * `onAbort` is registered only if the call waits.
   */
  readonly call: (request: unknown, call: CallContext, onAbort: AbortHook) => unknown
}

/** Where a service is mounted: connect-es's router, and optionally the direct unary table. */
export type Mount = (
  router: ConnectRouter,
  runner: CallRunner,
  base: Context.Context<never>,
  direct?: Map<string, DirectUnary>,
) => void

/** A service ready to be mounted on the one-port server. */
export interface RpcService<R> {
  readonly service: DescService
  readonly mount: Effect.Effect<Mount, never, R>
}

/**
 * Binds an Effect implementation to a Connect service descriptor. `make` runs once when the
 * server layer is built (so it can `yield*` the services it needs); each call then runs with
 * the layer's context, a server span and metrics.
 */
/** The services an implementation's handlers need, inferred from what they return. */
type Requirements<I> = {
  readonly [K in keyof I]: I[K] extends (...args: ReadonlyArray<never>) => Effect.Effect<unknown, unknown, infer R> ? R
    : I[K] extends (...args: ReadonlyArray<never>) => Stream.Stream<unknown, unknown, infer R> ? R
    : never
}[keyof I]

export const rpcService = <S extends DescService, I extends EffectServiceImpl<S, any>, RMake = never>(
  service: S,
  make: Effect.Effect<I, never, RMake>,
): RpcService<Requirements<I> | RMake> => ({
  service,
  mount: Effect.gen(function*() {
    const impl = yield* make
    const handlerContext = yield* Effect.context<Requirements<I>>()
    return (
      router: ConnectRouter,
      runner: CallRunner,
      base: Context.Context<never>,
      direct?: Map<string, DirectUnary>,
    ) => {
      const context = Context.merge(base, handlerContext)
      const handlers: Record<string, unknown> = {}
      for (const method of service.methods) {
        const fn = (impl as Record<string, unknown>)[method.localName]
        if (typeof fn !== "function") continue
        const call = (ctx: HandlerContext): CallContext => ({
          procedure: `/${service.typeName}/${method.name}`,
          headers: ctx.requestHeader,
          signal: ctx.signal,
          timeoutMs: ctx.timeoutMs(),
        })
        if (method.methodKind === "unary") {
          const unary = fn as UnaryEffect<DescMessage, DescMessage, Requirements<I>>
          // The handler builds its effect inside the call's fiber: code it runs at once (a traced
          // function called without `yield*`) then sees that fiber, and makes no call-site Error
          // for a span the fiber will never have (Trace.ts `callerTraces`; 2.3 % of a ListPackages).
          const effect = (req: unknown, c: CallContext) => Effect.suspend(() => unary(req as never, c))
          handlers[method.localName] = (req: unknown, ctx: HandlerContext) => {
            const c = call(ctx)
            return runner.unary(service, method, c, context, effect(req, c))
          }
          direct?.set(`/${service.typeName}/${method.name}`, {
            service,
            method: method as DescMethodUnary,
            call: (req: unknown, c: CallContext, onAbort: AbortHook) =>
              runner.unaryNow(service, method, c, context, effect(req, c), onAbort),
          })
        } else if (method.methodKind === "server_streaming") {
          handlers[method.localName] = (req: unknown, ctx: HandlerContext) => {
            const c = call(ctx)
            return runner.stream(
              service,
              method,
              c,
              context,
              (fn as StreamEffect<DescMessage, DescMessage, Requirements<I>>)(req as never, c),
            )
          }
        }
      }
      router.service(service, handlers as Partial<ServiceImpl<S>>)
    }
  }),
})
