import * as path from "node:path"
import { Console, Effect } from "effect"
import { Api, type ApiRequest, seg } from "../cli/Api"
import type { Endpoint } from "../cli/Endpoints"
import { type CliFailure, renderFailure } from "../cli/errors"
import { parseDocuments, readFileArg } from "../cli/input"
import { applyDeployment, loadDeployments } from "./dep"
import { applyPackage } from "./pkg"

export interface DevUrls {
  readonly pm: string
  readonly odgm: string
  readonly crm: string
  /** An admin token when the PM's auth is on (from its config), so --apply is allowed to write. */
  readonly pmToken: string | undefined
}

type Json = Record<string, unknown>
const isRecord = (u: unknown): u is Json => u !== null && typeof u === "object" && !Array.isArray(u)

/** How to run this CLI again, as the user started it (source under npm start, or the binary). */
const selfCommand = (): string => {
  const script = process.argv[1] ?? ""
  if (script.endsWith(".ts")) return `npx bun ${path.relative(process.cwd(), script) || script}`
  const rel = path.relative(process.cwd(), process.execPath)
  return rel.startsWith("..") || path.isAbsolute(rel) ? process.execPath : rel.includes("/") ? rel : `./${rel}`
}

const waitReady = (url: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 600; i++) {
      const ok = yield* Effect.tryPromise(() =>
        fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.status === 200)
      ).pipe(
        Effect.orElseSucceed(() => false),
      )
      if (ok) return true
      yield* Effect.sleep("100 millis")
    }
    return false
  })

/** A package file (it has classes, functions or a version) or a deployments file. */
const isPackageFile = (file: string) =>
  Effect.map(
    Effect.flatMap(readFileArg(file, "--apply"), (text) => parseDocuments(text, file)),
    (docs) =>
      docs.length === 1 && isRecord(docs[0]) &&
      ("classes" in docs[0] || "functions" in docs[0] || "version" in docs[0]),
  )

/**
 * `oprc dev --apply FILE...`: once the PM answers, applies each file (a package and the
 * deployments it declares, or deployment files), waits for the deployments to run, and prints
 * the URLs and one curl and one oprc line to try. A failure is printed and the platform keeps running.
 */
export const devStartup = (urls: DevUrls, files: ReadonlyArray<string>, dataDir: string) =>
  Effect.gen(function*() {
    const api = yield* Api
    const pm: Endpoint = { server: "PM", url: urls.pm, token: urls.pmToken, ca: undefined }
    const call = (request: ApiRequest) => api.call(pm, request)
    if (!(yield* waitReady(urls.pm))) return yield* Console.error(`oprc dev: the PM at ${urls.pm} did not become ready`)
    yield* Console.log(
      `oprc dev: PM ${urls.pm}  ODGM ${urls.odgm}  CRM ${urls.crm}  (data in ${dataDir}; Ctrl-C stops everything)`,
    )
    const deployed: Array<{ readonly key: string; readonly cls: string; readonly fn: string | undefined }> = []
    for (const file of files) {
      const applied = yield* Effect.gen(function*() {
        if (yield* isPackageFile(file)) {
          const p = yield* applyPackage(call, file, false)
          yield* Console.log(`oprc dev: package ${p.name} ${p.action}`)
          for (const d of p.parsed.deployments) {
            const r = yield* applyDeployment(call, d, false)
            const cls = p.parsed.package.classes.find((c) => c.key === d.classKey)
            deployed.push({
              key: r.key,
              cls: `${p.name}.${d.classKey}`,
              fn: cls?.bindings.find((b) => b.access === "PUBLIC" && !b.stateless)?.name,
            })
            yield* Console.log(`oprc dev: deployment ${r.key} ${r.action}`)
          }
        } else {
          for (const d of yield* loadDeployments(file)) {
            const r = yield* applyDeployment(call, d, false)
            deployed.push({ key: r.key, cls: `${d.packageName}.${d.classKey}`, fn: undefined })
            yield* Console.log(`oprc dev: deployment ${r.key} ${r.action}`)
          }
        }
      }).pipe(Effect.result)
      if (applied._tag === "Failure") {
        yield* Console.error(`oprc dev: --apply ${file}:\n${renderFailure(applied.failure as CliFailure)}`)
      }
    }
    for (const d of deployed) {
      const r = yield* call({
        method: "GET",
        path: `/api/v1/deployments/${seg(d.key)}`,
        query: { waitFor: "Running", timeoutMs: 60_000 },
        timeoutMs: 65_000,
      }).pipe(Effect.result)
      const status = r._tag === "Success" && isRecord(r.success.json) && isRecord(r.success.json["status"])
        ? r.success.json["status"]
        : {}
      yield* Console.log(
        `oprc dev: deployment ${d.key} ${String(status["phase"] ?? "unknown")}${
          typeof status["message"] === "string" && status["message"] !== "" ? ` (${status["message"]})` : ""
        }`,
      )
    }
    const example = deployed.find((d) => d.fn !== undefined)
    if (example !== undefined) {
      const odgmFlag = urls.odgm === "http://127.0.0.1:8081" ? "" : ` --odgm-url ${urls.odgm}`
      yield* Console.log([
        "try it:",
        `  curl -s -X POST ${urls.odgm}/api/class/${example.cls}/-/objects/demo-1/invokes/${example.fn} -H 'content-type: application/json' -d '{}'`,
        `  ${selfCommand()} invoke ${example.cls} ${example.fn} --object demo-1${odgmFlag}`,
      ].join("\n"))
    }
  }).pipe(Effect.catchCause((cause) => Console.error(`oprc dev: startup: ${String(cause)}`)))
