import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import {
  decodeDeployment,
  decodePackageFile,
  type Deployment,
  encodeDeployment,
  joinPath,
  type ValidationError,
} from "@oprc/models"
import { pm, seg } from "../cli/Api"
import { diff, renderChanges, withoutManaged } from "../cli/diff"
import { CommandFailed, InvalidInput } from "../cli/errors"
import { parseDocuments, readFileArg } from "../cli/input"
import { age, emit, note, table } from "../cli/Output"
import { showStatus, watchStatus } from "./depStatus"
import { dryRunFlag, fileFlag, listed, moreHint, noRows, pageFlags, type PmCall } from "./pkg"

type Json = Record<string, unknown>
const str = (v: unknown) => (typeof v === "string" ? v : "")
const isRecord = (u: unknown): u is Json => u !== null && typeof u === "object" && !Array.isArray(u)
const managed = ["revision", "createdAt", "updatedAt", "status", "placedClusters"]

const invalid = (file: string, e: ValidationError, prefix: string) =>
  new InvalidInput({
    reason: `${file === "-" ? "standard input" : file} has invalid deployments`,
    violations: e.violations.map((v) => ({ ...v, path: joinPath(prefix, v.path) })),
  })

/**
 * Deployments from a file: a package file's `deployments:` (their packageName is the file's
 * package), a `deployments:` list, a YAML list, or one or more deployment documents.
 */
export const loadDeployments = (file: string) =>
  Effect.gen(function*() {
    const docs = yield* parseDocuments(yield* readFileArg(file, "-f"), file)
    const out: Array<Deployment> = []
    for (const [d, doc] of docs.entries()) {
      const at = docs.length > 1 ? `[document ${d + 1}]` : ""
      if (isRecord(doc) && ("classes" in doc || "functions" in doc || "version" in doc)) {
        const parsed = yield* decodePackageFile(doc).pipe(Effect.mapError((e) => invalid(file, e, at)))
        out.push(...parsed.deployments)
        continue
      }
      const list = Array.isArray(doc)
        ? doc
        : isRecord(doc) && Array.isArray(doc["deployments"])
        ? doc["deployments"]
        : [doc]
      const prefix = Array.isArray(doc)
        ? ""
        : isRecord(doc) && Array.isArray(doc["deployments"])
        ? "deployments"
        : undefined
      for (const [i, item] of list.entries()) {
        out.push(
          yield* decodeDeployment(item).pipe(
            Effect.mapError((e) => invalid(file, e, `${at}${prefix === undefined ? "" : joinPath(prefix, `[${i}]`)}`)),
          ),
        )
      }
    }
    if (out.length === 0) return yield* new InvalidInput({ reason: `${file} declares no deployments`, violations: [] })
    return out
  })

/** Creates or updates one deployment (conditional on the revision read); with `dryRun` only the diff. */
export const applyDeployment = <R>(call: PmCall<R>, d: Deployment, dryRun: boolean) =>
  Effect.gen(function*() {
    const wanted = withoutManaged(encodeDeployment(d), managed)
    const current = yield* call({ method: "GET", path: `/api/v1/deployments/${seg(d.key)}`, accept: [404] })
    const stored = current.status === 404 ? undefined : (current.json as Json)
    const canonical = stored === undefined
      ? undefined
      : withoutManaged(
        yield* decodeDeployment(stored).pipe(Effect.map(encodeDeployment), Effect.orElseSucceed(() => stored)),
        managed,
      )
    const changes = canonical === undefined ? [] : diff(canonical, wanted)
    const action = stored === undefined ? "create" : changes.length === 0 ? "none" : "update"
    if (dryRun) {
      return { key: d.key, action, changes, phase: str((stored?.["status"] as Json | undefined)?.["phase"]) || null }
    }
    const body = JSON.stringify(encodeDeployment(d))
    const result = action === "create"
      ? (yield* call({ method: "POST", path: "/api/v1/deployments", body, contentType: "application/json" }))
        .json as Json
      : action === "update"
      ? (yield* call({
        method: "PUT",
        path: `/api/v1/deployments/${seg(d.key)}`,
        query: { expectedRevision: Number(stored?.["revision"] ?? 0) },
        body,
        contentType: "application/json",
      })).json as Json
      : stored!
    const done = action === "create" ? "created" : action === "update" ? "updated" : "unchanged"
    return {
      key: d.key,
      action: done,
      changes,
      phase: str((result["status"] as Json | undefined)?.["phase"]) || null,
      placedClusters: result["placedClusters"] ?? [],
    }
  })

const apply = Command.make(
  "apply",
  { file: fileFlag, dryRun: dryRunFlag },
  ({ file, dryRun }) =>
    Effect.gen(function*() {
      const deployments = yield* loadDeployments(file)
      const results = yield* Effect.forEach(deployments, (d) => applyDeployment(pm, d, dryRun))
      yield* emit(listed(results, undefined), () =>
        results.map((r) =>
          dryRun
            ? r.action === "create"
              ? `deployment ${r.key} would be created`
              : r.action === "none"
              ? `deployment ${r.key} is unchanged`
              : `deployment ${r.key} would be updated:\n${renderChanges(r.changes)}`
            : `deployment ${r.key} ${r.action} (phase ${r.phase ?? "?"}${
              "placedClusters" in r && Array.isArray(r.placedClusters) && r.placedClusters.length > 0
                ? ` on ${r.placedClusters.join(", ")}`
                : ""
            })`
        ).join("\n"))
      if (!dryRun) yield* note(`watch it: oprc dep status ${deployments[0]!.key} --watch`)
    }),
).pipe(
  Command.withDescription(
    "Create or update deployments from a file (a deployment, a list, or a package file's deployments:)",
  ),
  Command.withExamples([
    { command: "oprc dep apply -f examples/shop/deployment.yaml", description: "one deployment" },
    {
      command: "oprc dep apply -f examples/counter/package.yaml",
      description: "the deployments a package file declares",
    },
    { command: "oprc dep apply -f deployment.yaml --dry-run", description: "what would change" },
  ]),
)

const clustersOf = (d: Json) => {
  const placed = Array.isArray(d["placedClusters"]) ? (d["placedClusters"] as Array<string>) : []
  return placed.length > 0 ? placed.join(",") : "-"
}
const depRow = (
  d: Json,
) => [
  str(d["key"]),
  str(d["packageName"]),
  str(d["classKey"]),
  clustersOf(d),
  str((d["status"] as Json | undefined)?.["phase"]) || "-",
  String(d["revision"] ?? "-"),
  age(d["updatedAt"]),
]
const depHeaders = ["key", "package", "class", "clusters", "phase", "revision", "age"]

const list = Command.make("list", {
  package: Flag.String("package").pipe(Flag.withAlias("p"), Flag.optional, Flag.withDescription("only this package's")),
  cls: Flag.String("class").pipe(Flag.optional, Flag.withDescription("only this class's (class key, e.g. Counter)")),
  cluster: Flag.String("cluster").pipe(Flag.optional, Flag.withDescription("only those placed on this cluster")),
  ...pageFlags,
}, ({ package: pkg, cls, cluster, limit, cursor }) =>
  Effect.gen(function*() {
    const page = (yield* pm({
      method: "GET",
      path: "/api/v1/deployments",
      query: {
        packageName: Option.getOrUndefined(pkg),
        classKey: Option.getOrUndefined(cls),
        cluster: Option.getOrUndefined(cluster),
        limit: Option.getOrUndefined(limit),
        cursor: Option.getOrUndefined(cursor),
      },
    })).json as Json
    const items = (page["items"] as Array<Json> | undefined) ?? []
    yield* emit(listed(items, page["nextCursor"]), () =>
      table(depHeaders, items.map(depRow), noRows(page["nextCursor"], "no deployments")))
    yield* moreHint(page["nextCursor"])
  })).pipe(
    Command.withDescription("List deployments with their overall phase"),
    Command.withExamples([{ command: "oprc dep list", description: "every deployment" }, {
      command: "oprc dep list -p shop --cluster edge",
      description: "filtered",
    }]),
  )

const keyArg = Argument.String("key").pipe(Argument.withDescription("deployment key"))

const get = Command.make("get", { key: keyArg }, ({ key }) =>
  Effect.gen(function*() {
    const d = (yield* pm({ method: "GET", path: `/api/v1/deployments/${seg(key)}` })).json as Json
    yield* emit(d, () => table(depHeaders, [depRow(d)]))
  })).pipe(
    Command.withDescription("Show one deployment (-o yaml for the whole spec and status)"),
    Command.withExamples([{ command: "oprc dep get shop-orders -o yaml", description: "spec and status as YAML" }]),
  )

const del = Command.make("delete", {
  key: keyArg,
  wait: Flag.Boolean("wait").pipe(
    Flag.withDefault(false),
    Flag.withDescription("wait until every cluster removed its unit and the deployment is gone"),
  ),
}, ({ key, wait }) =>
  Effect.gen(function*() {
    const d = (yield* pm({ method: "DELETE", path: `/api/v1/deployments/${seg(key)}` })).json as Json
    if (wait) {
      let gone = false
      for (let i = 0; i < 600 && !gone; i++) {
        gone = (yield* pm({ method: "GET", path: `/api/v1/deployments/${seg(key)}`, accept: [404] })).status === 404
        if (!gone) yield* Effect.sleep("200 millis")
      }
      if (!gone) {
        return yield* new CommandFailed({
          reason: `deployment ${key} is still being deleted after 120 s (oprc dep status ${key})`,
        })
      }
    }
    yield* emit({ key, phase: wait ? "Deleted" : str((d["status"] as Json | undefined)?.["phase"]) }, () =>
      wait
        ? `deployment ${key} deleted from every cluster`
        : `deployment ${key} is being deleted (phase ${
          str((d["status"] as Json | undefined)?.["phase"])
        }); --wait waits until it is gone`)
  })).pipe(
    Command.withDescription("Delete a deployment: its units are removed from every cluster, then the deployment"),
    Command.withExamples([{
      command: "oprc dep delete shop-orders --wait",
      description: "delete and wait until it is gone",
    }]),
  )

const status = Command.make("status", {
  key: keyArg,
  watch: Flag.Boolean("watch").pipe(
    Flag.withAlias("w"),
    Flag.withDefault(false),
    Flag.withDescription("follow progress until Running (exit 0) or Failed (exit 1)"),
  ),
  timeout: Flag.Int("timeout").pipe(
    Flag.withDefault(300),
    Flag.withMetavar("SECONDS"),
    Flag.withDescription("with --watch: give up after this long, exit 1 (default 300)"),
  ),
}, ({ key, watch, timeout }) => (watch ? watchStatus(key, timeout) : showStatus(key))).pipe(
  Command.withDescription(
    "A deployment's phase, each cluster's phase, reason and conditions, and each function's ready replicas",
  ),
  Command.withExamples([
    { command: "oprc dep status shop-orders", description: "the status now" },
    { command: "oprc dep status shop-orders --watch", description: "live progress until Running or Failed" },
  ]),
)

const clustersList = Command.make("list", {}, () =>
  Effect.gen(function*() {
    const items = ((yield* pm({ method: "GET", path: "/api/v1/clusters" })).json as Json)["items"] as Array<Json> ?? []
    yield* emit(listed(items, undefined), () =>
      table(
        ["name", "health", "breaker", "availability", "nodes", "url", "message"],
        items.map((c) => [
          str(c["name"]),
          str(c["health"]),
          str(c["breaker"]),
          typeof c["availability"] === "number" ? String(c["availability"]) : "-",
          `${String(c["readyNodes"] ?? 0)}/${String(c["nodeCount"] ?? 0)}`,
          str(c["url"]),
          str(c["message"]) || "-",
        ]),
        "no clusters configured in the PM",
      ))
  })).pipe(
    Command.withDescription("The clusters the PM deploys to: health, circuit breaker, reported availability"),
    Command.withExamples([{ command: "oprc clusters list", description: "every cluster" }]),
  )

export const clustersCommand = Command.make("clusters").pipe(
  Command.withDescription("Clusters (CRMs) known to the PM"),
  Command.withSubcommands([clustersList]),
  Command.withExamples([{ command: "oprc clusters list -o json", description: "as JSON" }]),
)

export const depCommand = Command.make("dep").pipe(
  Command.withDescription("Deployments: a class placed on clusters, with its NFRs"),
  Command.withSubcommands([apply, list, get, status, del]),
  Command.withExamples([{
    command: "oprc dep apply -f examples/shop/deployment.yaml && oprc dep status shop-orders --watch",
    description: "deploy and watch",
  }]),
)
