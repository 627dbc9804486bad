import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { decodePackage, encodePackage, parsePackageText } from "@oprc/models"
import { type ApiReply, type ApiRequest, pm, seg } from "../cli/Api"
import { diff, renderChanges, withoutManaged } from "../cli/diff"
import { InvalidInput, type ServerRefused, type Unreachable, type UsageError } from "../cli/errors"
import { readFileArg } from "../cli/input"
import { age, emit, note, table } from "../cli/Output"

const managed = ["revision", "createdAt", "updatedAt"]

export const fileFlag = Flag.String("file").pipe(
  Flag.withAlias("f"),
  Flag.withMetavar("FILE"),
  Flag.withDescription("YAML or JSON file; - reads standard input"),
)
export const dryRunFlag = Flag.Boolean("dry-run").pipe(
  Flag.withDefault(false),
  Flag.withDescription("print what would change, change nothing"),
)

/** The content type a file is sent with: by extension, else by its first character. */
const contentTypeOf = (file: string, text: string): string =>
  /\.json$/i.test(file) || (file === "-" && /^\s*[{[]/.test(text)) ? "application/json" : "application/yaml"

type Json = Record<string, unknown>
const str = (v: unknown) => (typeof v === "string" ? v : "")
const count = (v: unknown) => (Array.isArray(v) ? v.length : 0)

/** A package file, checked with the same validation the PM runs. */
const loadPackage = (file: string) =>
  Effect.gen(function*() {
    const text = yield* readFileArg(file, "-f")
    const parsed = yield* parsePackageText(text, contentTypeOf(file, text)).pipe(
      Effect.mapError((e) =>
        new InvalidInput({
          reason: `${file === "-" ? "standard input" : file} is not a valid package`,
          violations: e.violations,
        })
      ),
    )
    return { text, parsed }
  })

/** A request to the PM: `pm` for commands; `oprc dev` passes one bound to its own PM. */
export type PmCall<R> = (request: ApiRequest) => Effect.Effect<ApiReply, ServerRefused | Unreachable | UsageError, R>

/** The stored package in the same canonical form the file decodes to, or none. */
const storedPackage = <R>(call: PmCall<R>, name: string) =>
  Effect.gen(function*() {
    const reply = yield* call({ method: "GET", path: `/api/v1/packages/${seg(name)}`, accept: [404] })
    if (reply.status === 404) return Option.none<{ readonly json: Json; readonly canonical: unknown }>()
    const json = reply.json as Json
    const canonical = yield* decodePackage(json).pipe(Effect.map(encodePackage), Effect.orElseSucceed(() => json))
    return Option.some({ json, canonical: withoutManaged(canonical, managed) })
  })

/**
 * Creates the file's package or updates the stored one (conditional on the revision the diff was
 * computed against, so a concurrent change is refused, not overwritten); with `dryRun` only the diff.
 */
export const applyPackage = <R>(call: PmCall<R>, file: string, dryRun: boolean) =>
  Effect.gen(function*() {
    const { text, parsed } = yield* loadPackage(file)
    const name = parsed.package.name
    const wanted = withoutManaged(encodePackage(parsed.package), managed)
    const stored = yield* storedPackage(call, name)
    const changes = Option.isSome(stored) ? diff(stored.value.canonical, wanted) : []
    const action = Option.isNone(stored) ? "create" : changes.length === 0 ? "none" : "update"
    const contentType = contentTypeOf(file, text)
    let result: Json | undefined = Option.getOrUndefined(stored)?.json
    if (!dryRun && action === "create") {
      result = (yield* call({ method: "POST", path: "/api/v1/packages", body: text, contentType })).json as Json
    } else if (!dryRun && action === "update") {
      const expectedRevision = Number(result?.["revision"] ?? 0)
      result = (yield* call({
        method: "PUT",
        path: `/api/v1/packages/${seg(name)}`,
        query: { expectedRevision },
        body: text,
        contentType,
      })).json as Json
    }
    const done = dryRun ? action : action === "create" ? "created" : action === "update" ? "updated" : "unchanged"
    return {
      name,
      action: done,
      revision: result?.["revision"] ?? null,
      version: parsed.package.version,
      changes,
      parsed,
    }
  })

const apply = Command.make(
  "apply",
  { file: fileFlag, dryRun: dryRunFlag },
  ({ file, dryRun }) =>
    Effect.gen(function*() {
      const { parsed, ...r } = yield* applyPackage(pm, file, dryRun)
      yield* emit(r, () =>
        r.action === "create"
          ? `package ${r.name} would be created (version ${r.version}, ${parsed.package.classes.length} class(es), ${parsed.package.functions.length} function(s))`
          : r.action === "none"
          ? `package ${r.name} is unchanged`
          : r.action === "update"
          ? `package ${r.name} would be updated:\n${renderChanges(r.changes)}`
          : `package ${r.name} ${r.action} (version ${r.version}, revision ${String(r.revision ?? "?")})`)
      if (!dryRun && parsed.deployments.length > 0) {
        yield* note(
          `${file} also declares ${parsed.deployments.length} deployment(s); create them with: oprc dep apply -f ${file}`,
        )
      }
    }),
).pipe(
  Command.withDescription(
    "Create a package, or update it when it exists (conditional on the revision read, so a concurrent change is refused)",
  ),
  Command.withExamples([
    { command: "oprc pkg apply -f examples/counter/package.yaml", description: "create or update the counter package" },
    {
      command: "oprc pkg apply -f package.yaml --dry-run",
      description: "show the field-by-field changes without applying them",
    },
    { command: "cat package.json | oprc pkg apply -f -", description: "from standard input" },
  ]),
)

const packageRow = (p: Json) => [
  str(p["name"]),
  str(p["version"]),
  String(p["revision"] ?? "-"),
  String(count(p["classes"])),
  String(count(p["functions"])),
  Array.isArray(p["dependencies"]) ? p["dependencies"].map((d) => str((d as Json)["name"])).join(",") || "-" : "-",
  age(p["updatedAt"]),
]
const packageHeaders = ["name", "version", "revision", "classes", "functions", "depends on", "age"]

const get = Command.make(
  "get",
  { name: Argument.String("name").pipe(Argument.withDescription("package name")) },
  ({ name }) =>
    Effect.gen(function*() {
      const p = (yield* pm({ method: "GET", path: `/api/v1/packages/${seg(name)}` })).json as Json
      yield* emit(p, () => {
        const classes = Array.isArray(p["classes"]) ? (p["classes"] as Array<Json>) : []
        return [
          table(packageHeaders, [packageRow(p)]),
          "",
          table(
            ["class", "bindings", "state keys"],
            classes.map((c) => [
              str(c["key"]),
              Array.isArray(c["bindings"])
                ? (c["bindings"] as Array<Json>).map((b) => str(b["name"])).join(",")
                : "-",
              Array.isArray((c["state"] as Json | undefined)?.["keys"])
                ? ((c["state"] as Json)["keys"] as Array<Json>).map((k) => str(k["name"])).join(",")
                : "-",
            ]),
            "(no classes)",
          ),
        ].join("\n")
      })
    }),
).pipe(
  Command.withDescription("Show one package (-o yaml prints it as a package file)"),
  Command.withExamples([
    { command: "oprc pkg get counter", description: "summary with its classes" },
    { command: "oprc pkg get counter -o yaml > counter.yaml", description: "the stored package as a file" },
  ]),
)

export const pageFlags = {
  limit: Flag.Int("limit").pipe(Flag.optional, Flag.withDescription("at most this many items (server default 100)")),
  cursor: Flag.String("cursor").pipe(
    Flag.optional,
    Flag.withDescription("continue after the nextCursor of a previous page"),
  ),
}

/** A page's nextCursor when there is one (servers send none, or "", on the last page). */
const cursorOf = (nextCursor: unknown): string | undefined =>
  typeof nextCursor === "string" && nextCursor !== "" ? nextCursor : undefined

/** The `{items, nextCursor?}` a list prints in json/yaml; in a table the cursor goes to stderr. */
export const listed = (items: ReadonlyArray<unknown>, nextCursor: unknown) => {
  const cursor = cursorOf(nextCursor)
  return cursor === undefined ? { items } : { items, nextCursor: cursor }
}

export const moreHint = (nextCursor: unknown) => {
  const cursor = cursorOf(nextCursor)
  return cursor === undefined ? Effect.void : note(`more: add --cursor ${cursor}`)
}

/**
 * A table's text for no rows. A page can be empty and still have more after it (servers end a page
 * early once it has read its byte budget), so then it says so instead of "no packages".
 */
export const noRows = (nextCursor: unknown, none: string) =>
  cursorOf(nextCursor) === undefined ? none : "(none on this page)"

const list = Command.make("list", {
  pattern: Flag.String("pattern").pipe(Flag.optional, Flag.withDescription("glob over names, e.g. 'shop*'")),
  tags: Flag.String("tag").pipe(
    Flag.atLeast(0),
    Flag.withDescription("only packages with every given tag (repeatable)"),
  ),
  ...pageFlags,
}, ({ pattern, tags, limit, cursor }) =>
  Effect.gen(function*() {
    const page = (yield* pm({
      method: "GET",
      path: "/api/v1/packages",
      query: {
        namePattern: Option.getOrUndefined(pattern),
        tags: tags.length > 0 ? tags.join(",") : undefined,
        limit: Option.getOrUndefined(limit),
        cursor: Option.getOrUndefined(cursor),
      },
    })).json as Json
    const items = (page["items"] as Array<Json> | undefined) ?? []
    yield* emit(listed(items, page["nextCursor"]), () =>
      table(packageHeaders, items.map(packageRow), noRows(page["nextCursor"], "no packages")))
    yield* moreHint(page["nextCursor"])
  })).pipe(
    Command.withDescription("List packages"),
    Command.withExamples([
      { command: "oprc pkg list", description: "every package" },
      {
        command: "oprc pkg list --pattern 'shop*' --tag example -o json",
        description: "filtered, as JSON ({items, nextCursor})",
      },
    ]),
  )

const del = Command.make("delete", {
  name: Argument.String("name").pipe(Argument.withDescription("package name")),
  cascade: Flag.Boolean("cascade").pipe(
    Flag.withDefault(false),
    Flag.withDescription("also delete its deployments (otherwise refused while any exist)"),
  ),
}, ({ name, cascade }) =>
  Effect.gen(function*() {
    const r = (yield* pm({
      method: "DELETE",
      path: `/api/v1/packages/${seg(name)}`,
      query: { cascade: cascade ? true : undefined },
    })).json as Json
    const deps = Array.isArray(r["deletedDeployments"]) ? (r["deletedDeployments"] as Array<string>) : []
    yield* emit(r, () => `package ${name} deleted${deps.length > 0 ? ` with deployments ${deps.join(", ")}` : ""}`)
  })).pipe(
    Command.withDescription(
      "Delete a package (refused while deployments or dependent packages exist, unless --cascade for deployments)",
    ),
    Command.withExamples([
      { command: "oprc pkg delete counter", description: "delete the counter package" },
      { command: "oprc pkg delete shop --cascade", description: "and its deployments" },
    ]),
  )

export const pkgCommand = Command.make("pkg").pipe(
  Command.withDescription("Packages: classes, their functions, triggers and dependencies (stored by the PM)"),
  Command.withSubcommands([apply, get, list, del]),
  Command.withExamples([{
    command: "oprc pkg apply -f examples/counter/package.yaml && oprc pkg list",
    description: "apply a package, then list",
  }]),
)
