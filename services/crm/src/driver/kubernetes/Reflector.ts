import * as k8s from "@kubernetes/client-node"
import type { KObject } from "./templates"

export interface ReflectorHandlers {
  /** An object appeared, changed or went away (the cache is already updated). */
  readonly changed: (obj: KObject, type: "ADDED" | "MODIFIED" | "DELETED") => void
  /** A fresh list replaced the cache (start, or after 410 Gone). */
  readonly relisted: (objs: ReadonlyArray<KObject>) => void
}

/**
 * List + watch with resourceVersion into a local cache, as client-go's reflector: the watch resumes
 * from the last resourceVersion it saw (bookmarks included) when the server ends the stream, and
 * re-lists when the server answers 410 Gone (history compacted) — in the status or in an ERROR
 * event. Failures back off (200 ms doubling to 5 s). client-node's informer stops on any other
 * error and keeps no bookmarks, which is why the driver has its own.
 */
export const makeReflector = (
  kc: k8s.KubeConfig,
  path: string,
  list: () => Promise<{ items: Array<KObject>; metadata?: { resourceVersion?: string } }>,
  handlers: ReflectorHandlers,
  labelSelector?: string,
) => {
  const cache = new Map<string, KObject>()
  const watch = new k8s.Watch(kc)
  let resourceVersion = ""
  let stopped = false
  let abort: AbortController | undefined
  let delay = 200
  let timer: ReturnType<typeof setTimeout> | undefined
  let relists = 0

  const later = (f: () => void, ms: number) => {
    if (stopped) return
    timer = setTimeout(f, ms)
  }
  const failed = (again: () => void) => {
    later(again, delay)
    delay = Math.min(5000, delay * 2)
  }

  const relist = async (): Promise<void> => {
    if (stopped) return
    try {
      const l = await list()
      relists++
      cache.clear()
      for (const o of l.items) cache.set(o.metadata.name, o)
      resourceVersion = l.metadata?.resourceVersion ?? ""
      delay = 200
      handlers.relisted([...cache.values()])
      void rewatch()
    } catch {
      failed(() => void relist())
    }
  }

  const rewatch = async (): Promise<void> => {
    if (stopped) return
    let gone = false
    try {
      abort = await watch.watch(path, {
        resourceVersion,
        allowWatchBookmarks: true,
        ...(labelSelector === undefined ? {} : { labelSelector }),
      }, (type, obj: KObject & { code?: number }) => {
        if (type === "BOOKMARK") {
          resourceVersion = (obj.metadata?.resourceVersion as string | undefined) ?? resourceVersion
          return
        }
        if (type === "ERROR") {
          if (obj.code === 410) gone = true
          return
        }
        resourceVersion = (obj.metadata.resourceVersion as string | undefined) ?? resourceVersion
        if (type === "DELETED") cache.delete(obj.metadata.name)
        else cache.set(obj.metadata.name, obj)
        delay = 200
        handlers.changed(obj, type as "ADDED" | "MODIFIED" | "DELETED")
      }, (err) => {
        if (stopped) return
        if (
          gone || (err as { statusCode?: number; code?: number } | undefined)?.statusCode === 410 ||
          String(err ?? "").includes("410")
        ) void relist()
        else if (err === null || err === undefined) void rewatch()
        else failed(() => void rewatch())
      })
    } catch (e) {
      if (String(e).includes("410")) void relist()
      else failed(() => void rewatch())
    }
  }

  return {
    start: () => relist(),
    stop: () => {
      stopped = true
      if (timer !== undefined) clearTimeout(timer)
      abort?.abort()
    },
    get: (name: string) => cache.get(name),
    list: () => [...cache.values()],
    relists: () => relists,
  }
}
