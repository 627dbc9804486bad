import { Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { pm } from "../cli/Api"
import { cell, emit, table } from "../cli/Output"
import { listed } from "./pkg"

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

const catalog = (path: string, pkg: Option.Option<string>) =>
  Effect.map(
    pm({ method: "GET", path, query: { package: Option.getOrUndefined(pkg) } }),
    (r) => ((r.json as Json)["items"] as Array<Json> | undefined) ?? [],
  )

const clsList = Command.make("list", { package: packageFlag }, ({ package: pkg }) =>
  Effect.gen(function*() {
    const items = yield* catalog("/api/v1/classes", pkg)
    yield* emit(listed(items, undefined), () =>
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
        "no classes",
      ))
  })).pipe(
    Command.withDescription("List classes of every stored package, under global keys (<package>.<Class>)"),
    Command.withExamples([{ command: "oprc cls list", description: "every class" }, {
      command: "oprc cls list -p shop -o json",
      description: "one package's, as JSON",
    }]),
  )

const fnList = Command.make("list", { package: packageFlag }, ({ package: pkg }) =>
  Effect.gen(function*() {
    const items = yield* catalog("/api/v1/functions", pkg)
    yield* emit(listed(items, undefined), () =>
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
        "no functions",
      ))
  })).pipe(
    Command.withDescription("List functions of every stored package, under global keys (<package>.<function>)"),
    Command.withExamples([{ command: "oprc fn list", description: "every function with how it is provisioned" }, {
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
