import { timestampFromMs } from "@bufbuild/protobuf/wkt"
import { Effect } from "effect"
import { isObjectId, protoEnum, ValidationError } from "@oprc/models"
import { odgmv1 } from "@oprc/proto"
import { type CallContext, rpcService } from "@oprc/rpc"
import { Access } from "../access/Access.ts"
import { AsyncInvocations } from "../invocation/AsyncInvocations.ts"
import type { InvocationRequest, InvocationResult } from "../domain/types.ts"
import { Invoker } from "../invocation/Invoker.ts"

const toRequest = (
  req: {
    readonly cls: string
    readonly partition?: number | undefined
    readonly objectId: string
    readonly function: string
    readonly payload: Uint8Array
    readonly headers: Record<string, string>
  },
  timeoutMs: number | undefined,
  invocationId: string | undefined,
): InvocationRequest => ({
  cls: req.cls,
  partition: req.partition,
  objectId: req.objectId === "" ? undefined : req.objectId,
  fn: req.function,
  payload: req.payload,
  headers: req.headers,
  timeoutMs: timeoutMs || undefined,
  invocationId,
})

const responseOf = (r: InvocationResult) => ({
  invocationId: r.invocationId,
  status: protoEnum.invocationStatus.toProto(r.status),
  output: r.output,
  error: r.error,
  headers: { ...r.headers },
  objectVersion: r.objectVersion ?? 0n,
})

/** The smaller of the request's own timeout and the client's deadline. */
const deadline = (own: number, call: CallContext): number | undefined => {
  const candidates = [own, call.timeoutMs ?? 0].filter((n) => n > 0)
  return candidates.length === 0 ? undefined : Math.min(...candidates)
}

const resultState = {
  PENDING: odgmv1.ResultState.PENDING,
  RUNNING: odgmv1.ResultState.RUNNING,
  DONE: odgmv1.ResultState.DONE,
} as const

/** oprc.odgm.v1.InvocationService: sync (status in the response), async, and results. */
export const invocationService = rpcService(
  odgmv1.InvocationService,
  Effect.gen(function*() {
    const invoker = yield* Invoker
    const jobs = yield* AsyncInvocations
    const access = yield* Access
    return {
      invoke: (req: odgmv1.InvokeRequest, call: CallContext) =>
        Effect.gen(function*() {
          if (req.invocationId !== "" && !isObjectId(req.invocationId)) {
            return yield* ValidationError.single(
              "invocationId",
              "use 1 to 160 characters of lowercase letters, digits, '.', '_', ':' and '-'",
            )
          }
          return responseOf(
            yield* invoker.invoke(
              toRequest(req, deadline(req.timeoutMs, call), req.invocationId || undefined),
              access.callerOf(call),
            ),
          )
        }),

      invokeAsync: (req: odgmv1.InvokeAsyncRequest, call: CallContext) =>
        Effect.map(
          jobs.submit(toRequest(req, undefined, req.invocationId || undefined), access.callerOf(call)),
          (invocationId) => ({ invocationId }),
        ),

      getResult: (req: odgmv1.GetResultRequest) =>
        Effect.gen(function*() {
          if (req.invocationId === "") return yield* ValidationError.single("invocationId", "is required")
          const r = yield* jobs.get(req.invocationId, req.waitMs)
          return {
            invocationId: r.invocationId,
            state: resultState[r.state],
            expiresAt: timestampFromMs(r.expiresAt),
            ...(r.result === undefined ? {} : { result: responseOf(r.result) }),
          }
        }),
    }
  }),
)
