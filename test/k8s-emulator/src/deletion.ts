// DELETE: preconditions, propagation policy (Foreground/Orphan add their finalizers), and
// either removal or a deletionTimestamp while finalizers hold the object.
import type { Api, Target } from "./api.ts"
import { conflict, fieldError, invalidObject, notFound } from "./errors.ts"
import { clone, deepEqual, isObject, nowTimestamp, type Obj, storageKey } from "./types.ts"

/** What still holds an object being deleted (a namespace also waits for its spec.finalizers). */
export function pendingFinalizers(o: Obj): string[] {
  const f = [...((o.metadata?.finalizers ?? []) as string[])]
  if (o.kind === "Namespace") f.push(...((o.spec?.finalizers ?? []) as string[]))
  return f
}

export function deleteObject(
  api: Api,
  t: Target,
  body: unknown,
  query: { propagationPolicy?: string | null; dryRun?: boolean },
): Obj {
  const { rt } = t
  const old = api.find(rt, t.namespace, t.name)
  if (!old) throw notFound(rt.plural, rt.group, t.name)
  const opts = isObject(body) ? body : {}
  const pre = isObject(opts.preconditions) ? opts.preconditions : {}
  if (pre.uid !== undefined && pre.uid !== null && pre.uid !== old.metadata.uid) {
    throw conflict(
      rt.plural,
      rt.group,
      t.name,
      `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`,
    )
  }
  if (
    pre.resourceVersion !== undefined && pre.resourceVersion !== null &&
    pre.resourceVersion !== old.metadata.resourceVersion
  ) {
    throw conflict(
      rt.plural,
      rt.group,
      t.name,
      `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`,
    )
  }
  const policy = (opts.propagationPolicy as string | undefined) ?? query.propagationPolicy ?? undefined
  if (policy !== undefined && !["Foreground", "Background", "Orphan"].includes(policy)) {
    throw invalidObject("DeleteOptions", "meta.k8s.io", "", [
      fieldError(
        "FieldValueNotSupported",
        "propagationPolicy",
        `Unsupported value: ${JSON.stringify(policy)}: supported values: "Foreground", "Background", "Orphan"`,
      ),
    ])
  }
  const dryRun = query.dryRun === true || (Array.isArray(opts.dryRun) && opts.dryRun.includes("All"))
  const o = clone(old)
  const finalizers = [...((o.metadata.finalizers ?? []) as string[])]
  if (policy === "Foreground" && !finalizers.includes("foregroundDeletion")) finalizers.push("foregroundDeletion")
  if (policy === "Orphan" && !finalizers.includes("orphan")) finalizers.push("orphan")
  if (finalizers.length > 0) o.metadata.finalizers = finalizers
  if (pendingFinalizers(o).length === 0) {
    if (dryRun) return api.view(rt, o)
    return api.view(rt, api.store.commit(storageKey(rt), t.namespace, t.name, null, "DELETED"))
  }
  if (old.metadata.deletionTimestamp && deepEqual(old.metadata.finalizers, o.metadata.finalizers)) {
    return api.view(rt, old)
  }
  o.metadata.deletionTimestamp ??= nowTimestamp()
  o.metadata.deletionGracePeriodSeconds ??= 0
  if (o.kind === "Namespace") o.status = { ...(o.status ?? {}), phase: "Terminating" }
  if (dryRun) return api.view(rt, o)
  return api.view(rt, api.store.commit(storageKey(rt), t.namespace, t.name, o, "MODIFIED"))
}
