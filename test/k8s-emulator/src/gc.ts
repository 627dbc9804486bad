// The garbage collector and the namespace controller: dependents follow their owners (matched by
// uid) asynchronously, foreground deletion waits for blocking dependents, orphaning strips owner
// references, and a deleted namespace is emptied before it goes. Both keep indexes from the
// event stream and look only at objects an event touched, so a pass costs what changed, not
// the size of the cluster.
import type { Api } from "./api.ts"
import type { Registry } from "./registry.ts"
import type { StoreEvent } from "./store.ts"
import { clone, type Obj, type ResourceType } from "./types.ts"

const MANAGER = "garbage-collector"
const SEP = "\u0000"
const keyOf = (storage: string, namespace: string, name: string) => [storage, namespace, name].join(SEP)

interface Found {
  rt: ResourceType
  o: Obj
}

export class GarbageCollector {
  private timer: ReturnType<typeof setTimeout> | undefined
  private retry: ReturnType<typeof setTimeout> | undefined
  private stopped = false
  /** Objects to look at in the next pass. */
  private readonly dirty = new Set<string>()
  private readonly dirtyNamespaces = new Set<string>()
  /** owner uid -> keys of the objects that name it in ownerReferences */
  private readonly dependents = new Map<string, Set<string>>()
  private readonly byUid = new Map<string, string>()

  constructor(
    private readonly api: Api,
    private readonly registry: Registry,
    private readonly delayMs: number,
  ) {}

  onEvent(e: StoreEvent): void {
    const key = keyOf(e.storage, e.namespace, e.name)
    const uid = e.object.metadata.uid as string
    const before = ((e.previous?.metadata?.ownerReferences ?? []) as Obj[]).map((r) => r.uid as string)
    const after = e.type === "DELETED"
      ? []
      : ((e.object.metadata.ownerReferences ?? []) as Obj[]).map((r) => r.uid as string)
    for (const u of before) this.dependents.get(u)?.delete(key)
    for (const u of after) {
      const set = this.dependents.get(u) ?? new Set<string>()
      set.add(key)
      this.dependents.set(u, set)
    }
    // Owners a dependent stopped or started naming may be waiting on it (foreground deletion).
    for (const u of new Set([...before, ...after])) {
      const owner = this.byUid.get(u)
      if (owner) this.dirty.add(owner)
    }
    if (e.type === "DELETED") {
      this.byUid.delete(uid)
      for (const d of this.dependents.get(uid) ?? []) this.dirty.add(d)
    } else {
      this.byUid.set(uid, key)
      if (after.length > 0 || e.object.metadata.deletionTimestamp) this.dirty.add(key)
      if (e.object.metadata.deletionTimestamp) { for (const d of this.dependents.get(uid) ?? []) this.dirty.add(d) }
    }
    if (e.storage === "/namespaces") this.dirtyNamespaces.add(e.name)
    else if (e.namespace !== "") this.dirtyNamespaces.add(e.namespace)
    this.schedule()
  }

  stop(): void {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    if (this.retry) clearTimeout(this.retry)
  }

  private schedule(delay = this.delayMs): void {
    if (this.timer || this.stopped) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      // Progress normally arrives as events; a slow re-check covers writes that failed (a
      // conflict with a concurrent client) and left work behind.
      if (this.pass()) this.retry = setTimeout(() => this.schedule(0), Math.max(this.delayMs, 250))
    }, delay)
  }

  private lookup(key: string): Found | undefined {
    const [storage, namespace, name] = key.split(SEP) as [string, string, string]
    const i = storage.indexOf("/")
    const rt = this.registry.anyVersion(storage.slice(0, i), storage.slice(i + 1))
    const o = rt ? this.api.store.get(storage, namespace, name) : undefined
    return rt && o ? { rt, o } : undefined
  }

  private update(x: Found, change: (next: Obj) => void): boolean {
    const latest = this.api.find(x.rt, x.o.metadata.namespace ?? "", x.o.metadata.name)
    if (!latest) return true
    const next = clone(latest)
    change(next)
    try {
      this.api.update({ rt: x.rt, namespace: x.o.metadata.namespace ?? "", name: x.o.metadata.name }, next, {
        fieldManager: MANAGER,
      })
      return true
    } catch {
      return false
    }
  }

  private remove(x: Found, policy: string): boolean {
    try {
      this.api.delete({ rt: x.rt, namespace: x.o.metadata.namespace ?? "", name: x.o.metadata.name }, {
        propagationPolicy: policy,
      }, {})
      return true
    } catch {
      return false
    }
  }

  private dependentsOf(uid: string): { x: Found; ref: Obj }[] {
    const out: { x: Found; ref: Obj }[] = []
    for (const key of this.dependents.get(uid) ?? []) {
      const x = this.lookup(key)
      const ref = ((x?.o.metadata.ownerReferences ?? []) as Obj[]).find((r) => r.uid === uid)
      if (x && ref) out.push({ x, ref })
    }
    return out
  }

  /** The owner a reference names, if it exists where the real GC looks (cluster or same namespace). */
  private owner(dependent: Found, ref: Obj): Found | undefined {
    const key = this.byUid.get(ref.uid)
    const x = key ? this.lookup(key) : undefined
    if (!x) return undefined
    if (x.rt.namespaced && (!dependent.rt.namespaced || x.o.metadata.namespace !== dependent.o.metadata.namespace)) {
      return undefined
    }
    return x
  }

  /** One sweep over what changed; true when something could not be done and must be retried. */
  private pass(): boolean {
    const keys = [...this.dirty]
    this.dirty.clear()
    let failed = false
    const finalizers = (o: Obj) => (o.metadata.finalizers ?? []) as string[]
    const waitsForDependents = (o: Obj) =>
      !!o.metadata.deletionTimestamp && finalizers(o).includes("foregroundDeletion")
    const again = (key: string) => {
      failed = true
      this.dirty.add(key)
    }
    for (const key of keys) {
      const x = this.lookup(key)
      if (!x) continue
      const { o } = x
      const uid = o.metadata.uid as string
      if (o.metadata.deletionTimestamp && finalizers(o).includes("orphan")) {
        let ok = true
        for (const d of this.dependentsOf(uid)) {
          ok = this.update(d.x, (n) => {
            n.metadata.ownerReferences = (n.metadata.ownerReferences ?? []).filter((r: Obj) => r.uid !== uid)
            if (n.metadata.ownerReferences.length === 0) delete n.metadata.ownerReferences
          }) && ok
        }
        if (!ok || !this.update(x, (n) => void (n.metadata.finalizers = finalizers(n).filter((f) => f !== "orphan")))) {
          again(key)
        }
        continue
      }
      if (waitsForDependents(o)) {
        const deps = this.dependentsOf(uid)
        for (const d of deps) {
          if (
            !d.x.o.metadata.deletionTimestamp &&
            !this.remove(d.x, (this.dependents.get(d.x.o.metadata.uid)?.size ?? 0) > 0 ? "Foreground" : "Background")
          ) again(key)
        }
        if (!deps.some((d) => d.ref.blockOwnerDeletion === true)) {
          if (
            !this.update(
              x,
              (n) => void (n.metadata.finalizers = finalizers(n).filter((f) => f !== "foregroundDeletion")),
            )
          ) again(key)
        }
      }
      const refs = (o.metadata.ownerReferences ?? []) as Obj[]
      if (refs.length === 0 || o.metadata.deletionTimestamp) continue
      const owners = refs.map((r) => ({ r, owner: this.owner(x, r) }))
      const absent = owners.filter((p) => !p.owner)
      const waiting = owners.filter((p) => p.owner && waitsForDependents(p.owner.o))
      const solid = refs.length - absent.length - waiting.length
      if (solid === 0) {
        if (
          !this.remove(x, waiting.length > 0 && (this.dependents.get(uid)?.size ?? 0) > 0 ? "Foreground" : "Background")
        ) again(key)
      } else if (absent.length > 0) {
        if (!this.update(x, (n) => void (n.metadata.ownerReferences = owners.filter((p) => p.owner).map((p) => p.r)))) {
          again(key)
        }
      }
    }
    if (this.namespaces()) failed = true
    return failed
  }

  /** Empties namespaces being deleted, then releases them; gives new ones a default ServiceAccount. */
  private namespaces(): boolean {
    let failed = false
    const names = [...this.dirtyNamespaces]
    this.dirtyNamespaces.clear()
    const nsType = this.registry.get("", "v1", "namespaces")!
    const sa = this.registry.get("", "v1", "serviceaccounts")!
    for (const name of names) {
      const ns = this.api.store.get("/namespaces", "", name)
      if (!ns) continue
      if (!ns.metadata.deletionTimestamp) {
        if (!this.api.find(sa, name, "default")) {
          try {
            this.api.create({ rt: sa, namespace: name }, { metadata: { name: "default" } }, {
              fieldManager: "kube-controller-manager",
            })
          } catch {}
        }
        continue
      }
      let left = 0
      for (const storage of this.api.store.storages()) {
        for (const o of this.api.store.list(storage, name)) {
          const x = this.lookup(keyOf(storage, name, o.metadata.name))
          if (!x || !x.rt.namespaced) continue
          left++
          if (!o.metadata.deletionTimestamp && !this.remove(x, "Background")) failed = true
        }
      }
      if (left > 0) continue
      const ok = this.update({ rt: nsType, o: ns }, (n) => {
        n.spec = {
          ...(n.spec ?? {}),
          finalizers: ((n.spec?.finalizers ?? []) as string[]).filter((f) => f !== "kubernetes"),
        }
      })
      if (!ok) {
        failed = true
        this.dirtyNamespaces.add(name)
      }
    }
    if (failed) { for (const n of names) this.dirtyNamespaces.add(n) }
    return failed
  }
}
