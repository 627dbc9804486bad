import { Effect } from "effect"
import { Api, pm, seg } from "../cli/Api"
import { resolveEndpoints } from "../cli/Endpoints"
import { CommandFailed } from "../cli/errors"
import { OutputFormat } from "../cli/flags"
import { emit, table } from "../cli/Output"

type Json = Record<string, unknown>
const str = (v: unknown) => (typeof v === "string" ? v : "")
const arr = (v: unknown): Array<Json> => (Array.isArray(v) ? (v as Array<Json>) : [])

interface FunctionReplicas {
  readonly function: string
  readonly readyReplicas: number
  readonly desiredReplicas: number
}

interface ClusterView {
  readonly cluster: string
  readonly phase: string
  readonly reason: string
  readonly message: string
  readonly acknowledgedGeneration: number
  readonly conditions: ReadonlyArray<
    { readonly type: string; readonly status: string; readonly reason: string; readonly message: string }
  >
  /** As the PM has them from the cluster's CRM (or, from older PMs, asked from the CRM); null when unknown. */
  readonly functions: ReadonlyArray<FunctionReplicas> | null
  /** The NFR analyzer's latest numbers for the unit; null until it reported. */
  readonly nfr: {
    readonly observedRps: number
    readonly observedP99Ms: number
    readonly recommendedReplicas: number
    readonly reason: string
  } | null
}

interface StatusView {
  readonly key: string
  readonly phase: string
  readonly message: string
  readonly clusters: ReadonlyArray<ClusterView>
}

/** Per-function replicas from the cluster's CRM (GetDeploymentUnit over Connect JSON); best effort, bounded. */
const unitFunctions = (crmUrl: string, unitId: string) =>
  Effect.gen(function*() {
    if (crmUrl === "" || unitId === "") return null
    const { pm: ep } = yield* resolveEndpoints
    const reply = yield* (yield* Api).call({ ...ep, server: "CRM", url: crmUrl.replace(/\/+$/, "") }, {
      method: "POST",
      path: "/oprc.crm.v1.RuntimeService/GetDeploymentUnit",
      body: JSON.stringify({ unitId }),
      contentType: "application/json",
      timeoutMs: 2000,
    })
    const status = ((reply.json as Json | undefined)?.["status"] as Json | undefined) ?? {}
    return arr(status["functions"]).map((f): FunctionReplicas => ({
      function: str(f["function"]),
      readyReplicas: Number(f["readyReplicas"] ?? 0),
      desiredReplicas: Number(f["desiredReplicas"] ?? 0),
    }))
  }).pipe(Effect.orElseSucceed(() => null))

/** The deployment's status with every cluster's replicas, or undefined once it is gone (404). */
const fetchStatus = (key: string) =>
  Effect.gen(function*() {
    const reply = yield* pm({ method: "GET", path: `/api/v1/deployments/${seg(key)}`, accept: [404] })
    if (reply.status === 404) return undefined
    const d = reply.json as Json
    const status = (d["status"] as Json | undefined) ?? {}
    const clusters = arr(((yield* pm({ method: "GET", path: "/api/v1/clusters" })).json as Json)["items"])
    const urlOf = new Map(clusters.map((c) => [str(c["name"]), str(c["url"])]))
    const replicasOf = (c: Json) =>
      Array.isArray(c["functions"])
        ? Effect.succeed(
          arr(c["functions"]).map((f): FunctionReplicas => ({
            function: str(f["function"]),
            readyReplicas: Number(f["readyReplicas"] ?? 0),
            desiredReplicas: Number(f["desiredReplicas"] ?? 0),
          })),
        )
        : unitFunctions(urlOf.get(str(c["cluster"])) ?? "", str(c["unitId"]))
    const nfrOf = (c: Json): ClusterView["nfr"] => {
      const n = c["nfr"]
      if (n === null || typeof n !== "object" || Array.isArray(n)) return null
      const r = n as Json
      return {
        observedRps: Number(r["observedRps"] ?? 0),
        observedP99Ms: Number(r["observedP99Ms"] ?? 0),
        recommendedReplicas: Number(r["recommendedReplicas"] ?? 0),
        reason: str(r["reason"]),
      }
    }
    const views = yield* Effect.forEach(arr(status["clusters"]), (c) =>
      Effect.map(replicasOf(c), (functions): ClusterView => ({
        cluster: str(c["cluster"]),
        phase: str(c["phase"]) || "Pending",
        reason: str(c["reason"]),
        message: str(c["message"]),
        acknowledgedGeneration: Number(c["acknowledgedGeneration"] ?? 0),
        conditions: arr(c["conditions"]).map((x) => ({
          type: str(x["type"]),
          status: str(x["status"]),
          reason: str(x["reason"]),
          message: str(x["message"]),
        })),
        functions,
        nfr: nfrOf(c),
      })), { concurrency: 4 })
    const view: StatusView = {
      key,
      phase: str(status["phase"]) || "Pending",
      message: str(status["message"]),
      clusters: views,
    }
    return view
  })

const replicas = (c: ClusterView) =>
  c.functions === null
    ? "?"
    : c.functions.length === 0
    ? "-"
    : c.functions.map((f) => `${f.function} ${f.readyReplicas}/${f.desiredReplicas}`).join(", ")

const round = (n: number) => (n >= 100 ? Math.round(n) : Math.round(n * 10) / 10)
const nfrCell = (c: ClusterView) =>
  c.nfr === null
    ? "-"
    : `${round(c.nfr.observedRps)} rps, p99 ${round(c.nfr.observedP99Ms)} ms, recommends ${c.nfr.recommendedReplicas}`

const renderStatus = (v: StatusView): string => {
  // The NFR column only once some cluster's analyzer has reported.
  const withNfr = v.clusters.some((c) => c.nfr !== null)
  return [
    `deployment ${v.key}: ${v.phase}${v.message === "" ? "" : ` (${v.message})`}`,
    table(
      ["cluster", "phase", "reason", "generation", "conditions", "replicas", ...(withNfr ? ["nfr"] : [])],
      v.clusters.map((
        c,
      ) => [
        c.cluster,
        c.phase,
        c.reason || "-",
        String(c.acknowledgedGeneration),
        c.conditions.map((x) => `${x.type}=${x.status}`).join(" ") || "-",
        replicas(c),
        ...(withNfr ? [nfrCell(c)] : []),
      ]),
      "(no clusters yet)",
    ),
  ].join("\n")
}

const replicaTotals = (c: ClusterView) =>
  c.functions === null
    ? "replicas ?"
    : `replicas ${c.functions.reduce((n, f) => n + f.readyReplicas, 0)}/${
      c.functions.reduce((n, f) => n + f.desiredReplicas, 0)
    }`

/** One line: what changed is visible at a glance when lines are printed one after another. */
const summaryLine = (v: StatusView): string =>
  `${v.key} ${v.phase}${v.clusters.length === 0 ? "" : " | "}${
    v.clusters.map((c) =>
      `${c.cluster}: ${c.phase}${c.reason !== "" && c.reason !== c.phase ? ` (${c.reason})` : ""}, ${replicaTotals(c)}${
        c.conditions.length === 0 ? "" : ` [${c.conditions.map((x) => `${x.type}=${x.status}`).join(" ")}]`
      }`
    ).join(" | ")
  }`

const gone = (key: string) => new CommandFailed({ reason: `deployment ${key} does not exist (or was deleted)` })

export const showStatus = (key: string) =>
  Effect.gen(function*() {
    const v = yield* fetchStatus(key)
    if (v === undefined) {
      return yield* pm({ method: "GET", path: `/api/v1/deployments/${seg(key)}` }).pipe(
        Effect.andThen(Effect.fail(gone(key))),
      )
    }
    yield* emit(v, () => renderStatus(v))
  })

const spinner = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]
const clock = () => new Date().toISOString().slice(11, 19)

/**
 * Polls until Running or Failed. On a terminal the current state is one spinner line redrawn
 * in place, and every change is kept as a line above it; otherwise each change is one plain
 * timestamped line. The final status table ends it; the exit code says how it ended.
 */
export const watchStatus = (key: string, timeoutSeconds: number) =>
  Effect.gen(function*() {
    // With -o json|yaml stdout is the result alone (scripts parse it): progress goes to stderr.
    const progress = (yield* OutputFormat) === "table" ? process.stdout : process.stderr
    const tty = progress.isTTY === true
    const started = Date.now()
    let last = ""
    let frame = 0
    const write = (s: string) => Effect.sync(() => progress.write(s))
    for (;;) {
      const v = yield* fetchStatus(key)
      if (v === undefined) {
        if (tty) yield* write("\r\x1b[2K")
        return yield* gone(key)
      }
      const line = summaryLine(v)
      const done = v.phase === "Running" || v.phase === "Failed"
      if (tty) {
        // Keep changes on screen; redraw only the spinner line.
        if (line !== last) yield* write(`\r\x1b[2K${clock()} ${line}\n`)
        if (!done) {
          yield* write(
            `\r\x1b[2K${spinner[frame++ % spinner.length]} ${v.phase} for ${
              Math.round((Date.now() - started) / 1000)
            }s: ${line}`,
          )
        }
      } else if (line !== last) {
        yield* write(`${clock()} ${line}\n`)
      }
      last = line
      if (done) {
        if (tty) yield* write("\r\x1b[2K")
        yield* emit(v, () => renderStatus(v))
        if (v.phase === "Failed") {
          return yield* new CommandFailed({
            reason: `deployment ${key} Failed${v.message === "" ? "" : `: ${v.message}`}`,
          })
        }
        return
      }
      if (Date.now() - started > timeoutSeconds * 1000) {
        if (tty) yield* write("\r\x1b[2K")
        yield* emit(v, () => renderStatus(v))
        return yield* new CommandFailed({
          reason: `deployment ${key} not Running after ${timeoutSeconds} s (phase ${v.phase})`,
        })
      }
      yield* Effect.sleep("500 millis")
    }
  })
