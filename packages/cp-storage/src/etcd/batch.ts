import { Cause, Effect } from "effect"
import type { Etcd3, IKeyValue, ITxnRequest, ITxnResponse } from "etcd3"
import { StorageError } from "@oprc/models"
import { call } from "./client.ts"

/** One conditional put: applied only while the key's mod_revision is `expected` (0: absent). */
export interface CasPut {
  readonly key: Buffer
  readonly value: Buffer
  readonly expected: bigint
}

/** What etcd said of one put: applied at `revision`, or not, with the key as it is. */
export type CasResult =
  | { readonly applied: true; readonly revision: bigint; readonly prev: IKeyValue | undefined }
  | { readonly applied: false; readonly current: IKeyValue | undefined }

interface Job {
  readonly put: CasPut
  readonly id: string
  readonly done: (r: { ok: CasResult } | { error: StorageError }) => void
}

// etcd's defaults: --max-txn-ops 128 (compares and each branch count), --max-request-bytes 1.5 MiB.
const MAX_OPS = 64
const MAX_BYTES = 1024 * 1024

/**
 * Conditional puts sent to etcd together: the puts waiting while a txn is in flight go in the next
 * one, as one txn of their compares and puts ("group commit"), so concurrent writes share one
 * gRPC call, one Raft entry and one fsync instead of paying each (a grpc-js unary call alone cost
 * ~250 µs of CPU per write here; bench/pm). A put with nothing in flight is sent at once.
 *
 * A txn is all or nothing, so when any compare fails, etcd answers with every key's current value
 * (the failure branch ranges them all): the puts whose compare did hold are sent again in the next
 * txn, the others are answered with their key as it is (a conflict, or their own earlier attempt:
 * the caller recognises its write id). Every round answers at least one put, so nothing loops.
 * A key appears once per txn (etcd refuses a txn that puts one key twice); a second put of the
 * same key waits for the next.
 */
export const makeCasBatcher = (client: Etcd3, timeoutMs: number, run: (e: Effect.Effect<void>) => void) => {
  let queue: Array<Job> = []
  let inFlight = false

  const take = (): Array<Job> => {
    const batch: Array<Job> = []
    const keys = new Set<string>()
    const rest: Array<Job> = []
    let bytes = 0
    for (const job of queue) {
      const size = job.put.key.length + job.put.value.length
      const fits = batch.length === 0 || (batch.length < MAX_OPS && bytes + size <= MAX_BYTES)
      if (!fits || keys.has(job.id)) {
        rest.push(job)
        continue
      }
      keys.add(job.id)
      bytes += size
      batch.push(job)
    }
    queue = rest
    return batch
  }

  const request = (batch: ReadonlyArray<Job>): ITxnRequest => ({
    compare: batch.map((j) => ({
      key: j.put.key,
      target: "Mod" as const,
      result: "Equal" as const,
      mod_revision: j.put.expected.toString(),
    })),
    // prev_kv tells an update its create_revision; a create (expected 0) has none.
    success: batch.map((j) => ({
      request_put: { key: j.put.key, value: j.put.value, prev_kv: j.put.expected !== 0n },
    })),
    failure: batch.map((j) => ({ request_range: { key: j.put.key } })),
  })

  /** Answers each put of a txn's response, or puts back those to send again. */
  const settle = (batch: ReadonlyArray<Job>, res: ITxnResponse): void => {
    if (res.succeeded) {
      const revision = BigInt(res.header.revision)
      batch.forEach((j, i) =>
        j.done({ ok: { applied: true, revision, prev: res.responses[i]?.response_put?.prev_kv } })
      )
      return
    }
    const again: Array<Job> = []
    batch.forEach((j, i) => {
      const current = res.responses[i]?.response_range?.kvs[0]
      const holds = BigInt(current?.mod_revision ?? "0") === j.put.expected
      // Alone in its txn, a compare that holds cannot have failed it: answered, not sent again.
      if (holds && batch.length > 1) again.push(j)
      else j.done({ ok: { applied: false, current } })
    })
    queue = [...again, ...queue]
  }

  const send = (batch: ReadonlyArray<Job>): Effect.Effect<void> =>
    call("txn", timeoutMs, (o) => client.kv.txn(request(batch), o)).pipe(
      Effect.flatMap((res) => Effect.sync(() => settle(batch, res))),
      Effect.catchCause((cause) =>
        Effect.sync(() => {
          // A failed call (or a defect reading its answer): every put of it hears so and may retry.
          const error = Cause.hasFails(cause)
            ? Cause.squash(cause) as StorageError
            : new StorageError({ reason: `etcd txn: ${Cause.pretty(cause)}`, retryable: true })
          for (const j of batch) j.done({ error })
        })
      ),
    )

  const pump = () => {
    if (inFlight || queue.length === 0) return
    inFlight = true
    const batch = take()
    run(Effect.ensuring(
      send(batch),
      Effect.sync(() => {
        inFlight = false
        pump()
      }),
    ))
  }

  /** Sends `put` with the next txn; its result, or the txn's failure. */
  const submit = (put: CasPut): Effect.Effect<CasResult, StorageError> =>
    Effect.callback<CasResult, StorageError>((resume) => {
      let answered = false
      queue.push({
        put,
        id: put.key.toString("latin1"),
        done: (r) => {
          if (answered) return
          answered = true
          resume("ok" in r ? Effect.succeed(r.ok) : Effect.fail(r.error))
        },
      })
      pump()
    })

  return { submit }
}
