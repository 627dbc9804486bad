// Discovery documents: /version, /api, /apis, group versions with their resources (plain and
// the aggregated apidiscovery.k8s.io/v2 form newer kubectls ask for).
import type { Registry } from "./registry.ts"
import type { Obj, ResourceType } from "./types.ts"

export const VERSION_INFO = {
  major: "1",
  minor: "28",
  gitVersion: "v1.28.0-oprc-emulator",
  gitCommit: "0000000000000000000000000000000000000000",
  gitTreeState: "clean",
  buildDate: "2026-12-01T00:00:00Z",
  goVersion: "go1.21.0",
  compiler: "gc",
  platform: "linux/amd64",
}

/** Kubernetes' version priority: GA before beta before alpha, higher numbers first. */
export function compareVersions(a: string, b: string): number {
  const rank = (v: string) => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v)
    if (!m) return [3, 0, 0, v] as const
    const stage = m[2] === undefined ? 0 : m[2] === "beta" ? 1 : 2
    return [stage, -Number(m[1]), -Number(m[3] ?? 0), v] as const
  }
  const ra = rank(a)
  const rb = rank(b)
  for (let i = 0; i < 3; i++) if (ra[i] !== rb[i]) return (ra[i] as number) - (rb[i] as number)
  return ra[3] < rb[3] ? -1 : ra[3] > rb[3] ? 1 : 0
}

const SUB_VERBS = ["get", "patch", "update"]

function resourceEntries(rt: ResourceType): Obj[] {
  const out: Obj[] = [
    {
      name: rt.plural,
      singularName: rt.singular,
      namespaced: rt.namespaced,
      kind: rt.kind,
      verbs: rt.verbs,
      ...(rt.shortNames.length ? { shortNames: rt.shortNames } : {}),
      ...(rt.categories.length ? { categories: rt.categories } : {}),
      storageVersionHash: Buffer.from(`${rt.group}/${rt.plural}`).toString("base64").slice(0, 11),
    },
  ]
  if (rt.status) {
    out.push({
      name: `${rt.plural}/status`,
      singularName: "",
      namespaced: rt.namespaced,
      kind: rt.kind,
      verbs: SUB_VERBS,
    })
  }
  if (rt.scale) {
    out.push({
      name: `${rt.plural}/scale`,
      singularName: "",
      namespaced: rt.namespaced,
      group: "autoscaling",
      version: "v1",
      kind: "Scale",
      verbs: SUB_VERBS,
    })
  }
  return out
}

export function apiVersions(serverAddress: string): Obj {
  return {
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
  }
}

export function resourceList(registry: Registry, group: string, version: string): Obj | undefined {
  const types = registry.inGroupVersion(group, version)
  if (types.length === 0) return undefined
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: group === "" ? version : `${group}/${version}`,
    resources: types.flatMap(resourceEntries),
  }
}

function groupEntry(name: string, versions: string[]): Obj {
  const sorted = [...versions].sort(compareVersions)
  const gv = (v: string) => ({ groupVersion: `${name}/${v}`, version: v })
  return { name, versions: sorted.map(gv), preferredVersion: gv(sorted[0]!) }
}

export function groupList(registry: Registry): Obj {
  return {
    kind: "APIGroupList",
    apiVersion: "v1",
    groups: [...registry.groups()].map(([name, versions]) => groupEntry(name, versions)),
  }
}

export function group(registry: Registry, name: string): Obj | undefined {
  const versions = registry.groups().get(name)
  return versions ? { kind: "APIGroup", apiVersion: "v1", ...groupEntry(name, versions) } : undefined
}

export const AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

export const wantsAggregated = (accept: string | undefined) =>
  (accept ?? "").split(",")[0]?.includes("as=APIGroupDiscoveryList") === true &&
  (accept ?? "").split(",")[0]?.includes("v=v2;") !== false

/** The aggregated (apidiscovery.k8s.io/v2) document for the core group or for all named groups. */
export function aggregated(registry: Registry, core: boolean): Obj {
  const byGroup = new Map<string, ResourceType[]>()
  for (const rt of registry.all()) {
    if ((rt.group === "") !== core) continue
    byGroup.set(rt.group, [...(byGroup.get(rt.group) ?? []), rt])
  }
  return {
    kind: "APIGroupDiscoveryList",
    apiVersion: "apidiscovery.k8s.io/v2",
    metadata: {},
    items: [...byGroup].map(([g, types]) => {
      const versions = [...new Set(types.map((t) => t.version))].sort(compareVersions)
      return {
        metadata: { name: g, creationTimestamp: null },
        versions: versions.map((v) => ({
          version: v,
          freshness: "Current",
          resources: types
            .filter((t) => t.version === v)
            .map((t) => ({
              resource: t.plural,
              responseKind: { group: g, version: v, kind: t.kind },
              scope: t.namespaced ? "Namespaced" : "Cluster",
              singularResource: t.singular,
              verbs: t.verbs,
              ...(t.shortNames.length ? { shortNames: t.shortNames } : {}),
              ...(t.categories.length ? { categories: t.categories } : {}),
              subresources: [
                ...(t.status
                  ? [{ subresource: "status", responseKind: { group: g, version: v, kind: t.kind }, verbs: SUB_VERBS }]
                  : []),
                ...(t.scale
                  ? [{
                    subresource: "scale",
                    responseKind: { group: "autoscaling", version: "v1", kind: "Scale" },
                    verbs: SUB_VERBS,
                  }]
                  : []),
              ],
            })),
        })),
      }
    }),
  }
}
