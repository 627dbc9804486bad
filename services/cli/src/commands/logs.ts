import { Console, Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { Api, crm, pm, seg } from "../cli/Api"
import { resolveEndpoints } from "../cli/Endpoints"
import { CommandFailed, UsageError } from "../cli/errors"
import { classArg } from "./obj"

type Json = Record<string, unknown>
const str = (v: unknown) => (typeof v === "string" ? v : "")
const arr = (v: unknown): Array<Json> => (Array.isArray(v) ? (v as Array<Json>) : [])

interface Source {
  readonly cluster: string
  readonly url: string | undefined
  readonly unitId: string
}

/** The function key a binding name (or a key) stands for, from the class's package. */
const functionKeyOf = (cls: string, fn: string) =>
  Effect.gen(function*() {
    const dot = cls.indexOf(".")
    if (dot <= 0) {
      return yield* new UsageError({ reason: `class ${JSON.stringify(cls)} must be a global key, <package>.<Class>` })
    }
    const pkg = (yield* pm({ method: "GET", path: `/api/v1/packages/${seg(cls.slice(0, dot))}` })).json as Json
    const c = arr(pkg["classes"]).find((x) => x["key"] === cls.slice(dot + 1))
    if (c === undefined) {
      return yield* new CommandFailed({ reason: `package ${cls.slice(0, dot)} has no class ${cls.slice(dot + 1)}` })
    }
    const binding = arr(c["bindings"]).find((b) => b["name"] === fn)
    if (binding !== undefined) return str(binding["function"])
    if (arr(pkg["functions"]).some((f) => f["key"] === fn)) return fn
    return yield* new CommandFailed({
      reason: `class ${cls} has no function ${fn} (bindings: ${
        arr(c["bindings"]).map((b) => str(b["name"])).join(", ")
      })`,
    })
  })

/** Every unit of the class's deployments, with its cluster's CRM URL as the PM knows it. */
const sourcesOf = (cls: string) =>
  Effect.gen(function*() {
    const dot = cls.indexOf(".")
    const deployments = arr(
      ((yield* pm({
        method: "GET",
        path: "/api/v1/deployments",
        query: { packageName: cls.slice(0, dot), classKey: cls.slice(dot + 1), limit: 1000 },
      })).json as Json)["items"],
    )
    const clusters = arr(((yield* pm({ method: "GET", path: "/api/v1/clusters" })).json as Json)["items"])
    const urls = new Map(clusters.map((c) => [str(c["name"]), str(c["url"])]))
    const sources: Array<Source> = deployments.flatMap((d) =>
      arr((d["status"] as Json | undefined)?.["clusters"]).filter((c) => str(c["unitId"]) !== "").map((c) => ({
        cluster: str(c["cluster"]),
        url: urls.get(str(c["cluster"])),
        unitId: str(c["unitId"]),
      }))
    )
    if (sources.length === 0) {
      return yield* new CommandFailed({ reason: `class ${cls} is not deployed anywhere (oprc dep list)` })
    }
    return sources
  })

const tail = (source: Source, fnKey: string, replica: number, stream: string, lines: number) =>
  Effect.gen(function*() {
    const request = {
      method: "POST" as const,
      path: "/oprc.crm.v1.RuntimeService/TailLogs",
      body: JSON.stringify({ unitId: source.unitId, function: fnKey, replica, stream, lines }),
      contentType: "application/json",
      timeoutMs: 5000,
    }
    const reply = source.url === undefined
      ? yield* crm(request)
      : yield* (yield* Api).call({ ...(yield* resolveEndpoints).crm, url: source.url.replace(/\/+$/, "") }, request)
    return arr((reply.json as Json | undefined)?.["lines"] as unknown).map(String)
  })

/** Lines of `next` after the longest overlap with the end of `prev` (the tail moved on by that much). */
export const newLines = (prev: ReadonlyArray<string>, next: ReadonlyArray<string>): ReadonlyArray<string> => {
  for (let k = Math.min(prev.length, next.length); k > 0; k--) {
    let same = true
    for (let i = 0; i < k && same; i++) same = prev[prev.length - k + i] === next[i]
    if (same) return next.slice(k)
  }
  return next
}

const logs = Command.make("logs", {
  cls: classArg,
  fn: Argument.String("function").pipe(
    Argument.withDescription("the function binding (e.g. increment) or function key (e.g. Counter.fn)"),
  ),
  follow: Flag.Boolean("follow").pipe(
    Flag.withAlias("f"),
    Flag.withDefault(false),
    Flag.withDescription("keep printing new lines until interrupted (Ctrl-C)"),
  ),
  lines: Flag.Int("lines").pipe(
    Flag.withAlias("n"),
    Flag.withDefault(100),
    Flag.withDescription("how many of the last lines to print first (default 100, at most 1000)"),
  ),
  replica: Flag.Int("replica").pipe(Flag.withDefault(0), Flag.withDescription("which replica: 0 (default), 1, ...")),
  stream: Flag.Literals("stream", ["stdout", "stderr", "both"]).pipe(
    Flag.withDefault("both"),
    Flag.withDescription("the replica's stdout, stderr, or both (default; stderr lines marked)"),
  ),
  unit: Flag.String("unit").pipe(
    Flag.optional,
    Flag.withDescription("ask the context's CRM (--crm-url) for this unit directly, without the PM"),
  ),
}, ({ cls, fn, follow, lines, replica, stream, unit }) =>
  Effect.gen(function*() {
    const fnKey = Option.isSome(unit) ? fn : yield* functionKeyOf(cls, fn)
    const sources = Option.isSome(unit) ? [{ cluster: "", url: undefined, unitId: unit.value }] : yield* sourcesOf(cls)
    const streams = stream === "both" ? ["stdout", "stderr"] : [stream]
    const seen = new Map<string, ReadonlyArray<string>>()
    for (let round = 0;; round++) {
      for (const s of sources) {
        for (const st of streams) {
          const key = `${s.cluster}/${st}`
          // Always the longest tail, so the next round can find where this one ended.
          const got = yield* tail(s, fnKey, replica, st, 1000)
          const fresh = round === 0 ? got.slice(-Math.max(0, lines)) : newLines(seen.get(key) ?? [], got)
          seen.set(key, got)
          const prefix = `${sources.length > 1 ? `[${s.cluster}] ` : ""}${
            stream === "both" && st === "stderr" ? "[stderr] " : ""
          }`
          for (const line of fresh) yield* Console.log(prefix + line)
        }
      }
      if (!follow) return
      yield* Effect.sleep("1 second")
    }
  })).pipe(
    Command.withDescription(
      "A function replica's output (stdout and stderr), from the CRM of every cluster the class is deployed on",
    ),
    Command.withExamples([
      {
        command: "oprc logs counter.Counter increment",
        description: "the last 100 lines of the replica behind increment",
      },
      {
        command: "oprc logs counter.Counter increment --follow --stream stderr",
        description: "keep following its stderr",
      },
    ]),
  )

export const logsCommand = logs
