import { expect } from "bun:test"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { eventually, probeCollection, rest } from "./odgm.ts"

/**
 * The exactly-once crash scenario shared by the SQLite and NATS tests: workers send increments
 * with client-chosen invocation ids (sync with Idempotency-Key, async with x-oprc-invocation-id)
 * while ODGM is SIGKILLed and restarted; every increment also fires a trigger of its object that
 * increments `ex.Total/t-<object>` (the probe's `increment` does not deduplicate anything itself).
 * A call whose outcome is unknown (connection lost, 5xx) is retried with the same id until it is
 * acknowledged. Afterwards every counter and its trigger-driven twin must equal the number of
 * distinct acknowledged ids that targeted it, every async id must be DONE, nothing dead-lettered.
 */

export const CLS = "ex.Counter"
const TOTAL = "ex.Total"
const OBJECTS = 4

export const writeCollections = (dir: string, functionUrl: string): string => {
  const file = join(dir, "collections.json")
  writeFileSync(
    file,
    JSON.stringify({ collections: [probeCollection(CLS, functionUrl), probeCollection(TOTAL, functionUrl)] }),
  )
  return file
}

const objectIds = ["s", "a"].flatMap((k) => Array.from({ length: OBJECTS }, (_, i) => `${k}${i}`))

/** The counters, each with triggers (create and update of `count`) on its own target object, so deliveries do not all queue on one object. */
export const prepareObjects = async (url: string) => {
  for (const id of objectIds) {
    const target = { cls: TOTAL, function: "increment", objectId: `t-${id}` }
    const triggers = [{ event: "DATA_CREATE", source: "count", target }, {
      event: "DATA_UPDATE",
      source: "count",
      target,
    }]
    const r = await rest(url).put(`/api/class/${CLS}/-/objects/${id}`, { entries: {}, triggers })
    if (r.status !== 201) throw new Error(`prepare ${id}: ${r.status} ${r.text}`)
  }
}

/** Settings that make a restarted ODGM pick up stranded work within a second or two. */
export const fastRecovery = {
  OPRC_INVOCATION_TIMEOUT_MS: "3000",
  OPRC_TRIGGERS_LEASE_MARGIN_MS: "1000",
  OPRC_TRIGGERS_BACKOFF_BASE_MS: "50",
  OPRC_TRIGGERS_BACKOFF_MAX_MS: "500",
  OPRC_TRIGGERS_MAX_ATTEMPTS: "1000",
  OPRC_TRIGGERS_POLL_INTERVAL_MS: "50",
}

export interface LoadReport {
  /** object id -> distinct acknowledged invocation ids. */
  readonly acked: Map<string, Set<string>>
  readonly asyncIds: ReadonlyArray<string>
  /** Calls answered with an unknown outcome (and retried with the same id). */
  readonly unknown: number
  readonly calls: number
}

/**
 * Runs `workers` clients until `stop()` says so (then each finishes its current operation).
 * `urls()` lists the ODGM nodes to spread calls over.
 */
export const runLoad = async (
  urls: () => ReadonlyArray<string>,
  workers: number,
  stop: () => boolean,
): Promise<LoadReport> => {
  const acked = new Map<string, Set<string>>()
  const asyncIds: string[] = []
  let unknown = 0
  let calls = 0
  const worker = async (w: number) => {
    for (let n = 0; !stop(); n++) {
      const isAsync = n % 3 === 2
      const object = `${isAsync ? "a" : "s"}${(w + n) % OBJECTS}`
      const id = `${isAsync ? "a" : "s"}-${w}-${n}`
      const path = `/api/class/${CLS}/-/objects/${object}/invokes/increment${isAsync ? "?async=true" : ""}`
      const headers = isAsync ? { "x-oprc-invocation-id": id } : { "idempotency-key": id }
      const giveUp = Date.now() + 60_000
      for (let attempt = 0;; attempt++) {
        const list = urls()
        const base = list[(w + n + attempt) % list.length]!
        calls++
        const status = await fetch(`${base}${path}`, { method: "POST", headers, signal: AbortSignal.timeout(10_000) })
          .then(async (r) => (await r.arrayBuffer(), r.status), () => 0)
        if (status === 200 || status === 202) break
        // A 4xx other than a lost race (409 aborted) is a bug in ODGM, not an unknown outcome.
        if (status >= 400 && status < 500 && status !== 409) throw new Error(`${id}: ${status}`)
        unknown++
        if (Date.now() > giveUp) throw new Error(`${id}: not acknowledged within 60 s`)
        await Bun.sleep(Math.min(20 * 2 ** attempt, 300))
      }
      if (!acked.has(object)) acked.set(object, new Set())
      acked.get(object)!.add(id)
      if (isAsync) asyncIds.push(id)
    }
  }
  await Promise.all(Array.from({ length: workers }, (_, w) => worker(w)))
  return { acked, asyncIds, unknown, calls }
}

/** The acceptance: zero lost, zero duplicated, zero orphaned (see the file header). */
export const checkExactlyOnce = async (url: string, report: LoadReport) => {
  const api = rest(url)
  const t0 = Date.now()
  for (const id of report.asyncIds) {
    const r = await eventually(`async ${id} DONE`, async () => {
      const got = await api.get(`/api/invocations/${id}?waitMs=2000`)
      return got.status === 200 ? got.json : undefined
    }, 60_000)
    expect([id, r.state, r.status]).toEqual([id, "DONE", "OK"])
  }
  const jobsDone = Date.now() - t0
  const countOf = async (cls: string, id: string) =>
    (await api.get(`/api/class/${cls}/-/objects/${id}`)).json?.entries?.count ?? 0
  let sum = 0
  for (const [object, ids] of report.acked) {
    expect([object, await countOf(CLS, object)]).toEqual([object, ids.size])
    sum += ids.size
  }
  for (const [object, ids] of report.acked) {
    let seen = 0
    await eventually(
      `t-${object} reaches ${ids.size}`,
      async () => ((seen = await countOf(TOTAL, `t-${object}`)) >= ids.size ? true : undefined),
      60_000,
    )
      .catch((e: Error) => Promise.reject(new Error(`${e.message}; it is at ${seen}`)))
  }
  console.log(`after the load: async jobs DONE in ${jobsDone} ms, trigger deliveries complete in ${Date.now() - t0} ms`)
  await Bun.sleep(1000) // late redeliveries would show up now
  for (const [object, ids] of report.acked) {
    expect([object, await countOf(TOTAL, `t-${object}`)]).toEqual([object, ids.size])
  }
  expect((await api.get("/api/dead-letters")).json.deadLetters).toEqual([])
  return sum
}
