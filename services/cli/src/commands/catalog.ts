import { Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { pm } from "../cli/Api"
import { cell, emit, table } from "../cli/Output"
import { listed, moreHint, noRows, pageFlags } from "./pkg"

type Json = Record<string, unknown>
const str = (v: unknown) => (typeof v === "string" ? v : "")
const names = (
  v: unknown,
  key: string,
) => (Array.isArray(v) && v.length > 0 ? (v as Array<Json>).map((x) => str(x[key])).join(",") : "-")

const packageFlag = Flag.String("package").pipe(
  Flag.withAlias("p"),
  Flag.optional,
  Flag.withDescription("only this package's"),
)

/** One page of the catalog (the server's default 100 unless --limit; --cursor continues). */
const catalog = (
  path: string,
  flags: { package: Option.Option<string>; limit: Option.Option<number>; cursor: Option.Option<string> },
) =>
  Effect.map(
    pm({
      method: "GET",
      path,
      query: {
        package: Option.getOrUndefined(flags.package),
        limit: Option.getOrUndefined(flags.limit),
        cursor: Option.getOrUndefined(flags.cursor),
      },
    }),
    (r) => {
      const page = r.json as Json
      return { items: (page["items"] as Array<Json> | undefined) ?? [], nextCursor: page["nextCursor"] }
    },
  )

const clsList = Command.make("list", { package: packageFlag, ...pageFlags }, (flags) =>
  Effect.gen(function*() {
    const { items, nextCursor } = yield* catalog("/api/v1/classes", flags)
    yield* emit(listed(items, nextCursor), () =>
      table(
        ["class", "package", "version", "bindings", "state keys"],
        items.map((c) => {
          const cls = (c["class"] as Json | undefined) ?? {}
          return [
            str(c["globalKey"]),
            str(c["packageName"]),
            str(c["packageVersion"]),
            names(cls["bindings"], "name"),
            names((cls["state"] as Json | undefined)?.["keys"], "name"),
          ]
        }),
        noRows(nextCursor, "no classes"),
      ))
    yield* moreHint(nextCursor)
  })).pipe(
    Command.withDescription(
      "List classes of every stored package, under global keys (<package>.<Class>), a page at a time",
    ),
    Command.withExamples([{ command: "oprc cls list", description: "the first page of classes" }, {
      command: "oprc cls list -p shop -o json",
      description: "one package's, as JSON",
    }]),
  )

const fnList = Command.make("list", { package: packageFlag, ...pageFlags }, (flags) =>
  Effect.gen(function*() {
    const { items, nextCursor } = yield* catalog("/api/v1/functions", flags)
    yield* emit(listed(items, nextCursor), () =>
      table(
        ["function", "package", "version", "type", "provision"],
        items.map((f) => {
          const fn = (f["function"] as Json | undefined) ?? {}
          const p = (fn["provision"] as Json | undefined) ?? {}
          return [
            str(f["globalKey"]),
            str(f["packageName"]),
            str(f["packageVersion"]),
            str(fn["type"]) || "CUSTOM",
            cell(
              p["image"] ?? p["url"] ??
                (Array.isArray(p["command"]) ? (p["command"] as Array<string>).join(" ") : undefined),
            ),
          ]
        }),
        noRows(nextCursor, "no functions"),
      ))
    yield* moreHint(nextCursor)
  })).pipe(
    Command.withDescription(
      "List functions of every stored package, under global keys (<package>.<function>), a page at a time",
    ),
    Command.withExamples([{
      command: "oprc fn list",
      description: "the first page of functions, with how each is provisioned",
    }, {
      command: "oprc fn list -p counter",
      description: "one package's",
    }]),
  )

export const clsCommand = Command.make("cls").pipe(
  Command.withDescription("Classes in the PM's catalog"),
  Command.withSubcommands([clsList]),
  Command.withExamples([{ command: "oprc cls list", description: "every class" }]),
)

export const fnCommand = Command.make("fn").pipe(
  Command.withDescription("Functions in the PM's catalog"),
  Command.withSubcommands([fnList]),
  Command.withExamples([{ command: "oprc fn list", description: "every function" }]),
)
