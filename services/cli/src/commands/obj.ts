import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { odgm, seg } from "../cli/Api"
import { UsageError } from "../cli/errors"
import { entriesFromPairs, parseJsonArg, readPayloadArg } from "../cli/input"
import { age, cell, emit, table } from "../cli/Output"
import { listed, moreHint, noRows, pageFlags } from "./pkg"

type Json = Record<string, unknown>
const str = (v: unknown) => (typeof v === "string" ? v : v === undefined || v === null ? "" : String(v))
const isRecord = (u: unknown): u is Json => u !== null && typeof u === "object" && !Array.isArray(u)

export const classArg = Argument.String("class").pipe(
  Argument.withDescription("class global key, <package>.<Class> (e.g. counter.Counter)"),
)
const idArg = Argument.String("id").pipe(Argument.withDescription("object id ([a-z0-9._:-], up to 160)"))
export const partitionFlag = Flag.String("partition").pipe(
  Flag.withDefault("-"),
  Flag.withDescription("partition number; - (default) lets ODGM hash the id"),
)
const versionFlag = Flag.String("if-version").pipe(
  Flag.optional,
  Flag.withMetavar("VERSION"),
  Flag.withDescription("only if the object is at this version (refused with exit 1 otherwise)"),
)
const entriesFlag = Flag.String("entries").pipe(
  Flag.optional,
  Flag.withMetavar("JSON|@FILE|-"),
  Flag.withDescription("entries as a JSON object"),
)
const setFlag = Flag.KeyValuePair("set").pipe(
  Flag.withDefault({}),
  Flag.withDescription("one entry, key=value (the value is JSON when it parses, else a string); repeatable"),
)

const objectPath = (cls: string, partition: string, id?: string) =>
  `/api/class/${seg(cls)}/${seg(partition)}/objects${id === undefined ? "" : `/${seg(id)}`}`

const ifMatch = (v: Option.Option<string>) => (Option.isSome(v) ? { "if-match": `"${v.value}"` } : {})

/** Entries from --entries and --set together (--set wins per key). */
const entriesOf = (entries: Option.Option<string>, set: Readonly<Record<string, string>>) =>
  Effect.gen(function*() {
    const base = Option.isSome(entries)
      ? yield* parseJsonArg(yield* readPayloadArg(entries.value, "--entries"), "--entries")
      : {}
    if (!isRecord(base)) {
      return yield* new UsageError({ reason: "--entries: expected a JSON object of entries, e.g. '{\"count\": 1}'" })
    }
    return { ...base, ...entriesFromPairs(set) }
  })

const renderObject = (o: Json) => {
  const entries = isRecord(o["entries"]) ? o["entries"] : {}
  return [
    `${str(o["cls"]) || "object"} ${str(o["id"])} (partition ${str(o["partition"])}, version ${str(o["version"])})`,
    table(["entry", "value"], Object.entries(entries).map(([k, v]) => [k, cell(v, 100)]), "(no entries)"),
  ].join("\n")
}

const get = Command.make(
  "get",
  { cls: classArg, id: idArg, partition: partitionFlag },
  ({ cls, id, partition }) =>
    Effect.gen(function*() {
      const o = (yield* odgm({ method: "GET", path: objectPath(cls, partition, id) })).json as Json
      yield* emit(o, () => renderObject(o))
    }),
).pipe(
  Command.withDescription("Show an object: its version and entries"),
  Command.withExamples([{ command: "oprc obj get counter.Counter c1", description: "entries as a table" }, {
    command: "oprc obj get counter.Counter c1 -o json | jq .entries.count",
    description: "one entry, in a script",
  }]),
)

const put = Command.make("put", {
  cls: classArg,
  id: idArg,
  partition: partitionFlag,
  entries: entriesFlag,
  set: setFlag,
  ifVersion: versionFlag,
}, ({ cls, id, partition, entries, set, ifVersion }) =>
  Effect.gen(function*() {
    const body = JSON.stringify({ entries: yield* entriesOf(entries, set) })
    const r = yield* odgm({
      method: "PUT",
      path: objectPath(cls, partition, id),
      body,
      contentType: "application/json",
      headers: ifMatch(ifVersion),
    })
    const o = r.json as Json
    yield* emit(o, () => `object ${id} ${r.status === 201 ? "created" : "replaced"} (version ${str(o["version"])})`)
  })).pipe(
    Command.withDescription("Create or replace an object's entries"),
    Command.withExamples([
      { command: "oprc obj put counter.Counter c1 --set count=10", description: "one entry" },
      {
        command: "oprc obj put counter.Counter c1 --entries @state.json --if-version 3",
        description: "from a file, only if still at version 3",
      },
    ]),
  )

const merge = Command.make("merge", {
  cls: classArg,
  id: idArg,
  partition: partitionFlag,
  entries: entriesFlag,
  set: setFlag,
  remove: Flag.String("delete").pipe(
    Flag.atLeast(0),
    Flag.withMetavar("KEY"),
    Flag.withDescription("remove this entry; repeatable"),
  ),
  ifVersion: versionFlag,
}, ({ cls, id, partition, entries, set, remove, ifVersion }) =>
  Effect.gen(function*() {
    const body = JSON.stringify({
      entries: yield* entriesOf(entries, set),
      ...(remove.length > 0 ? { delete: remove } : {}),
    })
    const o = (yield* odgm({
      method: "PATCH",
      path: objectPath(cls, partition, id),
      body,
      contentType: "application/json",
      headers: ifMatch(ifVersion),
    })).json as Json
    yield* emit(o, () => `object ${id} merged (version ${str(o["version"])})`)
  })).pipe(
    Command.withDescription("Change some entries of an object, keep the others"),
    Command.withExamples([{
      command: "oprc obj merge counter.Counter c1 --set count=0 --delete note",
      description: "set one entry, remove another",
    }]),
  )

const del = Command.make(
  "delete",
  { cls: classArg, id: idArg, partition: partitionFlag, ifVersion: versionFlag },
  ({ cls, id, partition, ifVersion }) =>
    Effect.gen(function*() {
      const r = yield* odgm({ method: "DELETE", path: objectPath(cls, partition, id), headers: ifMatch(ifVersion) })
      yield* emit(r.json ?? { id, deleted: true }, () => `object ${id} deleted`)
    }),
).pipe(
  Command.withDescription("Delete an object"),
  Command.withExamples([{ command: "oprc obj delete counter.Counter c1", description: "delete c1" }]),
)

const list = Command.make("list", {
  cls: classArg,
  partition: partitionFlag,
  prefix: Flag.String("prefix").pipe(Flag.optional, Flag.withDescription("only ids starting with this")),
  entries: Flag.Boolean("entries").pipe(
    Flag.withDefault(false),
    Flag.withDescription("include every object's entries"),
  ),
  ...pageFlags,
}, ({ cls, partition, prefix, entries, limit, cursor }) =>
  Effect.gen(function*() {
    const page = (yield* odgm({
      method: "GET",
      path: objectPath(cls, partition),
      query: {
        prefix: Option.getOrUndefined(prefix),
        limit: Option.getOrUndefined(limit),
        cursor: Option.getOrUndefined(cursor),
        entries: entries ? true : undefined,
      },
    })).json as Json
    const items = (page["objects"] as Array<Json> | undefined) ?? []
    yield* emit(listed(items, page["nextCursor"]), () =>
      table(
        entries ? ["id", "partition", "version", "entries"] : ["id", "partition", "version", "entries", "age"],
        items.map((o) =>
          entries
            ? [str(o["id"]), str(o["partition"]), str(o["version"]), cell(o["entries"], 80)]
            : [str(o["id"]), str(o["partition"]), str(o["version"]), str(o["entryCount"]), age(o["updatedAt"])]
        ),
        noRows(page["nextCursor"], "no objects"),
      ))
    yield* moreHint(page["nextCursor"])
  })).pipe(
    Command.withDescription("List a class's objects (ordered by partition, then id)"),
    Command.withExamples([{
      command: "oprc obj list counter.Counter --prefix c --limit 10",
      description: "the first ten ids starting with c",
    }]),
  )

export const objCommand = Command.make("obj").pipe(
  Command.withDescription("Objects in the data grid (ODGM): versioned entries per object"),
  Command.withSubcommands([get, put, merge, del, list]),
  Command.withExamples([{
    command: "oprc obj put counter.Counter c1 --set count=1 && oprc obj get counter.Counter c1",
    description: "write, then read",
  }]),
)
