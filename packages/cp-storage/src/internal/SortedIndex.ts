/**
 * Documents of one kind kept sorted by key, so list/prefix/cursor queries on the in-memory
 * backends are range scans, not a sort per request. Inserts are O(n) array splices, which is
 * cheap at control-plane sizes (thousands of packages/deployments).
 */
export class SortedIndex<V> {
  private readonly map = new Map<string, V>()
  private readonly keys: string[] = []

  get size(): number {
    return this.keys.length
  }

  get(key: string): V | undefined {
    return this.map.get(key)
  }

  set(key: string, value: V): void {
    if (!this.map.has(key)) this.keys.splice(this.lowerBound(key), 0, key)
    this.map.set(key, value)
  }

  delete(key: string): boolean {
    if (!this.map.delete(key)) return false
    this.keys.splice(this.lowerBound(key), 1)
    return true
  }

  clear(): void {
    this.map.clear()
    this.keys.length = 0
  }

  /** Values whose key starts with prefix and is > after, in key order, at most limit (+1 to tell "more"). */
  range(prefix: string, after: string | undefined, limit: number | undefined): { items: V[]; more: boolean } {
    const start = after !== undefined && after >= prefix ? this.upperBound(after) : this.lowerBound(prefix)
    const items: V[] = []
    for (let i = start; i < this.keys.length; i++) {
      const k = this.keys[i]!
      if (!k.startsWith(prefix)) break
      if (limit !== undefined && items.length >= limit) return { items, more: true }
      items.push(this.map.get(k)!)
    }
    return { items, more: false }
  }

  private lowerBound(key: string): number {
    let lo = 0
    let hi = this.keys.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.keys[mid]! < key) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  private upperBound(key: string): number {
    let lo = 0
    let hi = this.keys.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.keys[mid]! <= key) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}
