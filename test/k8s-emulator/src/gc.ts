// The garbage collector and the namespace controller: dependents follow their owners (matched by
// uid) asynchronously, foreground deletion waits for blocking dependents, orphaning strips owner
// references, and a deleted namespace is emptied before it goes.
import type { Api } from "./api.ts"
import type { Registry } from "./registry.ts"
import type { StoreEvent } from "./store.ts"
import { clone, type Obj, type ResourceType } from "./types.ts"

const MANAGER = "garbage-collector"

export class GarbageCollector {
  private timer: ReturnType<typeof setTimeout> | undefined
  private retry: ReturnType<typeof setTimeout> | undefined
  private stopped = false

  constructor(
    private readonly api: Api,
    private readonly registry: Registry,
    private readonly delayMs: number,
  ) {}

  onEvent(_e: StoreEvent): void {
    this.schedule()
  }

  stop(): void {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    if (this.retry) clearTimeout(this.retry)
  }

  private schedule(): void {
    if (this.timer || this.stopped) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      // Progress normally arrives as events; a slow re-check covers writes that failed and
      // left work behind (a conflict with a concurrent client).
      if (this.pass()) this.retry = setTimeout(() => this.schedule(), Math.max(this.delayMs, 250))
    }, this.delayMs)
  }

  private typeOf(storage: string): ResourceType | undefined {
    const [group, plural] = [storage.slice(0, storage.indexOf("/")), storage.slice(storage.indexOf("/") + 1)]
    return this.registry.anyVersion(group, plural)
  }

  private all(): { rt: ResourceType; o: Obj }[] {
    const out: { rt: ResourceType; o: Obj }[] = []
    for (const storage of this.api.store.storages()) {
      const rt = this.typeOf(storage)
      if (!rt) continue
      for (const o of this.api.store.list(storage)) out.push({ rt, o })
    }
    return out
  }

  private update(rt: ResourceType, o: Obj, change: (next: Obj) => void): void {
    const latest = this.api.find(rt, o.metadata.namespace ?? "", o.metadata.name)
    if (!latest) return
    const next = clone(latest)
    change(next)
    try {
      this.api.update({ rt, namespace: o.metadata.namespace ?? "", name: o.metadata.name }, next, { fieldManager: MANAGER })
    } catch {}
  }

  private remove(rt: ResourceType, o: Obj, policy: string): void {
    try {
      this.api.delete({ rt, namespace: o.metadata.namespace ?? "", name: o.metadata.name }, { propagationPolicy: policy }, {})
    } catch {}
  }

  /** One sweep; true when something is still waiting. */
  private pass(): boolean {
    let waiting = false
    const objects = this.all()
    const byUid = new Map(objects.map((x) => [x.o.metadata.uid as string, x]))
    const dependents = new Map<string, { rt: ResourceType; o: Obj; ref: Obj }[]>()
    for (const x of objects)
      for (const ref of (x.o.metadata.ownerReferences ?? []) as Obj[]) {
        const list = dependents.get(ref.uid) ?? []
        list.push({ ...x, ref })
        dependents.set(ref.uid, list)
      }
    const finalizers = (o: Obj) => (o.metadata.finalizers ?? []) as string[]
    const waitsForDependents = (o: Obj) => o.metadata.deletionTimestamp && finalizers(o).includes("foregroundDeletion")

    for (const { rt, o } of objects) {
      const uid = o.metadata.uid as string
      const deps = dependents.get(uid) ?? []
      if (o.metadata.deletionTimestamp && finalizers(o).includes("orphan")) {
        for (const d of deps) this.update(d.rt, d.o, (n) => {
          n.metadata.ownerReferences = (n.metadata.ownerReferences ?? []).filter((r: Obj) => r.uid !== uid)
          if (n.metadata.ownerReferences.length === 0) delete n.metadata.ownerReferences
        })
        this.update(rt, o, (n) => {
          n.metadata.finalizers = finalizers(n).filter((f) => f !== "orphan")
        })
        continue
      }
      if (waitsForDependents(o)) {
        for (const d of deps) if (!d.o.metadata.deletionTimestamp) this.remove(d.rt, d.o, dependents.has(d.o.metadata.uid) ? "Foreground" : "Background")
        const blocking = deps.filter((d) => d.ref.blockOwnerDeletion === true)
        if (blocking.length === 0) this.update(rt, o, (n) => {
          n.metadata.finalizers = finalizers(n).filter((f) => f !== "foregroundDeletion")
        })
        else waiting = true
      }
      const refs = (o.metadata.ownerReferences ?? []) as Obj[]
      if (refs.length === 0 || o.metadata.deletionTimestamp) continue
      // An owner must be cluster-scoped or in the dependent's namespace (the real GC looks it up
      // there); otherwise it counts as absent.
      const found = (r: Obj) => {
        const x = byUid.get(r.uid)
        if (!x) return undefined
        if (x.rt.namespaced && (!rt.namespaced || x.o.metadata.namespace !== o.metadata.namespace)) return undefined
        return x
      }
      const absent = refs.filter((r) => !found(r))
      const waitingOwners = refs.filter((r) => found(r) && waitsForDependents(found(r)!.o))
      const solid = refs.length - absent.length - waitingOwners.length
      if (solid === 0) this.remove(rt, o, waitingOwners.length > 0 && dependents.has(uid) ? "Foreground" : "Background")
      else if (absent.length > 0) this.update(rt, o, (n) => {
        n.metadata.ownerReferences = refs.filter((r) => found(r))
      })
    }
    if (this.namespaces(objects)) waiting = true
    return waiting
  }

  /** Empties namespaces being deleted, then releases them; gives new ones a default ServiceAccount. */
  private namespaces(objects: { rt: ResourceType; o: Obj }[]): boolean {
    let waiting = false
    const nsType = this.registry.get("", "v1", "namespaces")!
    for (const { o: ns } of objects.filter((x) => x.rt.kind === "Namespace" && x.rt.group === "")) {
      const name = ns.metadata.name as string
      if (!ns.metadata.deletionTimestamp) {
        const sa = this.registry.get("", "v1", "serviceaccounts")!
        if (!this.api.find(sa, name, "default"))
          try {
            this.api.create({ rt: sa, namespace: name }, { metadata: { name: "default" } }, { fieldManager: "kube-controller-manager" })
          } catch {}
        continue
      }
      const contents = objects.filter((x) => x.rt.namespaced && x.o.metadata.namespace === name)
      for (const x of contents) if (!x.o.metadata.deletionTimestamp) this.remove(x.rt, x.o, "Background")
      if (contents.length > 0) {
        waiting = true
        continue
      }
      this.update(nsType, ns, (n) => {
        n.spec = { ...(n.spec ?? {}), finalizers: ((n.spec?.finalizers ?? []) as string[]).filter((f) => f !== "kubernetes") }
      })
    }
    return waiting
  }
}
