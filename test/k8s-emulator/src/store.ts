// Objects, the global resourceVersion counter and the bounded event history behind list and watch.
import type { Obj } from "./types.ts"
import { clone } from "./types.ts"

export type EventType = "ADDED" | "MODIFIED" | "DELETED"

export interface StoreEvent {
  type: EventType
  rv: number
  /** `group/plural` of the object's storage. */
  storage: string
  namespace: string
  name: string
  object: Obj
  /** The object before this event (MODIFIED, DELETED): lets watchers see selector transitions. */
  previous?: Obj
}

type Listener = (e: StoreEvent) => void

const objKey = (namespace: string, name: string) => `${namespace}/${name}`

export class Store {
  private rv = 1
  private readonly objects = new Map<string, Map<string, Obj>>()
  private readonly history: StoreEvent[] = []
  /** Highest resourceVersion whose event has left the history: watches from older RVs get 410. */
  private compactedRv = 0
  private readonly listeners = new Set<Listener>()

  constructor(private readonly historyLimit: number) {}

  get currentRv(): number {
    return this.rv
  }

  get oldestAvailableRv(): number {
    return this.compactedRv
  }

  private bucket(storage: string): Map<string, Obj> {
    let b = this.objects.get(storage)
    if (!b) {
      b = new Map()
      this.objects.set(storage, b)
    }
    return b
  }

  get(storage: string, namespace: string, name: string): Obj | undefined {
    return this.objects.get(storage)?.get(objKey(namespace, name))
  }

  /** Objects of one storage, sorted by namespace then name (the order the real server lists in). */
  list(storage: string, namespace?: string): Obj[] {
    const b = this.objects.get(storage)
    if (!b) return []
    const out: Obj[] = []
    for (const o of b.values()) if (namespace === undefined || (o.metadata.namespace ?? "") === namespace) out.push(o)
    return out.sort(byKey)
  }

  storages(): string[] {
    return [...this.objects.keys()]
  }

  /** Every object by uid, for the garbage collector's owner lookups. */
  byUid(): Map<string, { storage: string; object: Obj }> {
    const out = new Map<string, { storage: string; object: Obj }>()
    for (const [storage, b] of this.objects) for (const o of b.values()) out.set(o.metadata.uid, { storage, object: o })
    return out
  }

  /** Writes (or with `null` removes) an object, bumping the global resourceVersion. */
  commit(storage: string, namespace: string, name: string, next: Obj | null, type: EventType): Obj {
    const key = objKey(namespace, name)
    const b = this.bucket(storage)
    const previous = b.get(key)
    this.rv += 1
    const rv = this.rv
    let object: Obj
    if (type === "DELETED") {
      if (!previous) throw new Error(`delete of missing ${storage} ${key}`)
      // The DELETED event carries the final state (e.g. with its last finalizer removed).
      object = next ?? clone(previous)
      object.metadata.resourceVersion = String(rv)
      b.delete(key)
    } else if (next === null) {
      throw new Error(`commit of ${type} without an object for ${storage} ${key}`)
    } else {
      object = next
      object.metadata.resourceVersion = String(rv)
      b.set(key, object)
    }
    const event: StoreEvent = { type, rv, storage, namespace, name, object, ...(previous ? { previous } : {}) }
    this.history.push(event)
    while (this.history.length > this.historyLimit) this.compactedRv = this.history.shift()!.rv
    for (const l of this.listeners) l(event)
    return object
  }

  /** Events after `rv`, or undefined when the history no longer reaches back that far. */
  eventsAfter(rv: number): StoreEvent[] | undefined {
    if (rv < this.compactedRv) return undefined
    const start = this.history.findIndex((e) => e.rv > rv)
    return start < 0 ? [] : this.history.slice(start)
  }

  /**
   * The objects of one storage as they were at `rv`, rebuilt by undoing later events; undefined
   * when those events have been compacted away.
   */
  listAt(storage: string, rv: number, namespace?: string): Obj[] | undefined {
    if (rv >= this.rv) return this.list(storage, namespace)
    const later = this.eventsAfter(rv)
    if (!later) return undefined
    const state = new Map<string, Obj>()
    for (const o of this.list(storage)) state.set(objKey(o.metadata.namespace ?? "", o.metadata.name), o)
    for (let i = later.length - 1; i >= 0; i--) {
      const e = later[i]!
      if (e.storage !== storage) continue
      const key = objKey(e.namespace, e.name)
      if (e.type === "ADDED") state.delete(key)
      else if (e.previous) state.set(key, e.previous)
    }
    return [...state.values()].filter((o) => namespace === undefined || (o.metadata.namespace ?? "") === namespace)
      .sort(byKey)
  }

  /** Test hook: forget all history, so every watch or continue token from before now gets 410. */
  compact(): void {
    this.history.length = 0
    this.compactedRv = this.rv
  }

  subscribe(l: Listener): () => void {
    this.listeners.add(l)
    return () => this.listeners.delete(l)
  }
}

function byKey(a: Obj, b: Obj): number {
  const ka = `${a.metadata.namespace ?? ""}/${a.metadata.name}`
  const kb = `${b.metadata.namespace ?? ""}/${b.metadata.name}`
  return ka < kb ? -1 : ka > kb ? 1 : 0
}
