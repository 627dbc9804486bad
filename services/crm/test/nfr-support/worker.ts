// A function replica with a known capacity for the NFR tests: `work` is stateless and handled
// one call at a time for WORK_MS each (a single-threaded worker, like a replica with
// concurrency 1), so one replica serves at most 1000 / WORK_MS calls per second whatever the
// CPU, and only more replicas serve more. Run: PORT=9100 WORK_MS=10 bun services/crm/test/nfr-support/worker.ts
import { Schema } from "effect"
import { defineClass, serve } from "@oprc/sdk"

const workMs = Number(process.env.WORK_MS ?? "10")
let turn: Promise<unknown> = Promise.resolve()
const oneAtATime = <A>(task: () => Promise<A>): Promise<A> => {
  const run = turn.then(task)
  turn = run.catch(() => undefined)
  return run
}

const Worker = defineClass({
  state: Schema.Struct({}),
  functions: ({ stateless }) => ({
    work: stateless({}, () =>
      oneAtATime(async () => {
        await Bun.sleep(workMs)
        return { pid: process.pid }
      })),
  }),
})

await serve(Worker, { quiet: true })
