// Which resources are served, by group/version/plural, for routing and discovery.
import { BUILTIN_TYPES } from "./builtins.ts"
import { groupVersion, type ResourceType } from "./types.ts"

export class Registry {
  private readonly types = new Map<string, ResourceType>()

  constructor() {
    for (const t of BUILTIN_TYPES) this.add(t)
  }

  private key = (group: string, version: string, plural: string) => `${group}/${version}/${plural}`

  add(rt: ResourceType): void {
    this.types.set(this.key(rt.group, rt.version, rt.plural), rt)
  }

  /** Removes every version a CRD served. */
  removeCrd(crdName: string): void {
    for (const [k, t] of this.types) if (t.crd === crdName) this.types.delete(k)
  }

  get(group: string, version: string, plural: string): ResourceType | undefined {
    return this.types.get(this.key(group, version, plural))
  }

  /** The type of an object by apiVersion and kind (owner references, SSA bodies). */
  byKind(apiVersion: string, kind: string): ResourceType | undefined {
    for (const t of this.types.values()) if (groupVersion(t) === apiVersion && t.kind === kind) return t
    return undefined
  }

  /** Any served version of a group's resource (the GC and CRD cleanup work across versions). */
  anyVersion(group: string, plural: string): ResourceType | undefined {
    for (const t of this.types.values()) if (t.group === group && t.plural === plural) return t
    return undefined
  }

  all(): ResourceType[] {
    return [...this.types.values()]
  }

  /** Groups with their versions, newest registration last; core ("") excluded. */
  groups(): Map<string, string[]> {
    const out = new Map<string, string[]>()
    for (const t of this.types.values()) {
      if (t.group === "") continue
      const vs = out.get(t.group) ?? []
      if (!vs.includes(t.version)) vs.push(t.version)
      out.set(t.group, vs)
    }
    return out
  }

  inGroupVersion(group: string, version: string): ResourceType[] {
    return this.all().filter((t) => t.group === group && t.version === version)
  }
}
