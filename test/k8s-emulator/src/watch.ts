// Watch streams: chunked newline-delimited JSON events, an initial state or a replay from a
// resourceVersion, 410 Expired once history is gone, bookmarks, timeouts, selector transitions.
import type { ServerResponse } from "node:http"
import { expired } from "./errors.ts"
import type { ObjectFilter } from "./selectors.ts"
import type { Store, StoreEvent } from "./store.ts"
import { groupVersion, type Obj, type ResourceType, served, storageKey } from "./types.ts"

export interface WatchRequest {
  rt: ResourceType
  namespace?: string | undefined
  filter: ObjectFilter
  resourceVersion?: string | undefined
  allowBookmarks: boolean
  bookmarkIntervalMs: number
  timeoutSeconds?: number | undefined
  /** Turns each event's object into what the client asked for (e.g. a Table). */
  render: (o: Obj, first: boolean) => Obj
}

const MAX_BUFFERED = 16 * 1024 * 1024

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR"

/** Open watch streams, so a test hook can drop them all at once. */
export class WatchHub {
  private readonly open = new Map<() => void, string>()

  add(close: () => void, storage: string): () => void {
    this.open.set(close, storage)
    return () => this.open.delete(close)
  }

  dropAll(): number {
    const n = this.open.size
    for (const close of [...this.open.keys()]) close()
    return n
  }

  /** Ends the watches of one storage (its resource stopped being served). */
  dropStorage(storage: string): void {
    for (const [close, s] of [...this.open]) if (s === storage) close()
  }

  get size(): number {
    return this.open.size
  }
}

export function serveWatch(store: Store, hub: WatchHub, w: WatchRequest, res: ServerResponse): void {
  res.writeHead(200, {
    "Content-Type": "application/json",
    "Cache-Control": "no-cache, private",
    "Transfer-Encoding": "chunked",
  })
  // Without this the informer in client-node never sees the response start and hangs.
  res.flushHeaders()
  const storage = storageKey(w.rt)
  let first = true
  const send = (type: WatchEventType, object: Obj) => {
    if (res.writableEnded) return
    // A client that stops reading is cut off, as the real server drops watchers whose buffer
    // fills, instead of buffering without bound; it re-watches (or gets 410 and re-lists).
    if (res.writableLength > MAX_BUFFERED) return close()
    const rendered = type === "ERROR" || type === "BOOKMARK" ? object : w.render(object, first)
    if (type !== "ERROR" && type !== "BOOKMARK") first = false
    res.write(`${JSON.stringify({ type, object: rendered })}\n`)
  }
  const view = (o: Obj) => served(w.rt, o)
  const inScope = (e: StoreEvent) => e.storage === storage && (w.namespace === undefined || e.namespace === w.namespace)

  const deliver = (e: StoreEvent) => {
    if (!inScope(e)) return
    const now = w.filter(e.object)
    const before = e.previous !== undefined && e.type !== "ADDED" && w.filter(e.previous)
    if (e.type === "ADDED") {
      if (now) send("ADDED", view(e.object))
    } else if (e.type === "DELETED") {
      if (now || before) send("DELETED", view(e.object))
    } else if (now && before) send("MODIFIED", view(e.object))
    else if (now) send("ADDED", view(e.object))
    else if (before) send("DELETED", view(e.object))
  }

  let cleanup = () => {}
  const close = () => {
    cleanup()
    if (!res.writableEnded) res.end()
  }

  const rv = w.resourceVersion
  if (rv === undefined || rv === "" || rv === "0") {
    for (const o of store.list(storage, w.namespace)) if (w.filter(o)) send("ADDED", view(o))
  } else {
    const n = /^[0-9]+$/.test(rv) ? Number(rv) : Number.NaN
    const replay = Number.isNaN(n) ? undefined : store.eventsAfter(n)
    if (!replay) {
      const err = Number.isNaN(n)
        ? {
          kind: "Status",
          apiVersion: "v1",
          metadata: {},
          status: "Failure",
          message: `invalid resource version: ${rv}`,
          reason: "BadRequest",
          code: 400,
        }
        : expired(`too old resource version: ${n} (${store.oldestAvailableRv})`).toStatus()
      send("ERROR", err)
      res.end()
      return
    }
    for (const e of replay) deliver(e)
  }

  const unsubscribe = store.subscribe(deliver)
  const timers: ReturnType<typeof setTimeout>[] = []
  if (w.allowBookmarks) {
    const t = setInterval(
      () =>
        send("BOOKMARK", {
          kind: w.rt.kind,
          apiVersion: groupVersion(w.rt),
          metadata: { resourceVersion: String(store.currentRv) },
        }),
      w.bookmarkIntervalMs,
    )
    timers.push(t)
  }
  // Without timeoutSeconds the real server ends a watch after a random 30 to 60 minutes.
  const timeout = w.timeoutSeconds !== undefined && w.timeoutSeconds > 0 ? w.timeoutSeconds : 1800 * (1 + Math.random())
  timers.push(setTimeout(close, timeout * 1000))
  const unregister = hub.add(close, storage)
  cleanup = () => {
    unsubscribe()
    unregister()
    for (const t of timers) clearTimeout(t)
  }
  res.on("close", cleanup)
}
