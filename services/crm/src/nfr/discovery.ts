import { mkdirSync, renameSync, writeFileSync } from "node:fs"
import { dirname } from "node:path"
import { Effect, Schema } from "effect"
import { json, route } from "@oprc/rpc"
import { NfrTarget, type NfrWorkload } from "./NfrTarget"

/** Labels every scrape target carries (Prometheus keeps them on every series it scrapes there). */
export const sdLabels = {
  component: "oprc_component",
  deployment: "oprc_deployment",
  unit: "oprc_unit",
  class: "oprc_class",
  function: "oprc_function",
} as const

/** One entry of Prometheus's `http_sd_configs` / `file_sd_configs` format. */
export interface TargetGroup {
  readonly targets: ReadonlyArray<string>
  readonly labels: Readonly<Record<string, string>>
}

const hostPort = (url: string): { readonly target: string; readonly scheme: string } | undefined => {
  if (!URL.canParse(url)) return undefined
  const u = new URL(url)
  const port = u.port || (u.protocol === "https:" ? "443" : "80")
  return {
    target: `${u.hostname.includes(":") ? `[${u.hostname}]` : u.hostname}:${port}`,
    scheme: u.protocol.slice(0, -1),
  }
}

/** Groups targets by scheme: Prometheus takes the scheme per group (`__scheme__`). */
const groups = (urls: ReadonlyArray<string>, labels: Record<string, string>): Array<TargetGroup> => {
  const byScheme = new Map<string, Array<string>>()
  for (const url of urls) {
    const hp = hostPort(url)
    if (hp === undefined) continue
    const list = byScheme.get(hp.scheme) ?? []
    if (!list.includes(hp.target)) list.push(hp.target)
    byScheme.set(hp.scheme, list)
  }
  return [...byScheme].map(([scheme, targets]) => ({
    targets,
    labels: scheme === "http" ? labels : { ...labels, __scheme__: scheme },
  }))
}

/**
 * Every function replica (starting ones too: their first scrapes fail until they listen, which
 * shows in Prometheus's target list instead of hiding them) and every ODGM, labelled by unit.
 */
export const targetGroups = (
  workloads: ReadonlyArray<NfrWorkload>,
  odgmUrls: ReadonlyArray<string>,
): ReadonlyArray<TargetGroup> => [
  ...workloads.flatMap((w) =>
    groups(w.replicas.map((r) => r.url), {
      [sdLabels.component]: "function",
      [sdLabels.deployment]: w.deploymentKey,
      [sdLabels.unit]: w.unitId,
      [sdLabels.class]: w.cls,
      [sdLabels.function]: w.function,
    })
  ),
  ...groups(odgmUrls, { [sdLabels.component]: "odgm" }),
]

/** The targets now, from the CRM's own view of what runs. */
const currentTargetGroups = Effect.gen(function*() {
  const target = yield* NfrTarget
  return targetGroups(yield* target.workloads, yield* target.odgmUrls)
})

export const SD_PATH = "/api/v1/sd/targets"

/**
 * `GET /api/v1/sd/targets`: Prometheus `http_sd_configs` endpoint. Point a scrape job at it:
 * `http_sd_configs: [{url: "http://<crm>/api/v1/sd/targets", refresh_interval: 15s}]`.
 */
export const sdRoute = route<NfrTarget>("GET", SD_PATH, () => Effect.map(currentTargetGroups, (g) => json(200, g)))

class FileSdError extends Schema.TaggedError<FileSdError>()("FileSdError", {
  path: Schema.String,
  reason: Schema.String,
}) {
  override get message(): string {
    return `cannot write file_sd targets to ${this.path}: ${this.reason}`
  }
}

/** Writes the groups for `file_sd_configs`; write-then-rename so Prometheus never reads half a file. */
export const writeFileSd = (path: string, groups: ReadonlyArray<TargetGroup>) =>
  Effect.try({
    try: () => {
      mkdirSync(dirname(path), { recursive: true })
      const tmp = `${path}.tmp-${process.pid}`
      writeFileSync(tmp, `${JSON.stringify(groups, null, 2)}\n`)
      renameSync(tmp, path)
    },
    catch: (e) => new FileSdError({ path, reason: e instanceof Error ? e.message : String(e) }),
  })
