import { Effect, Option } from "effect"
import { Argument, Command } from "effect/cli"
import { odgm, seg } from "../cli/Api"
import { cell, emit, table } from "../cli/Output"
import { listed, moreHint, noRows, pageFlags } from "./pkg"

type Json = Record<string, unknown>
const str = (v: unknown) => (typeof v === "string" ? v : v === undefined ? "" : String(v))

const idArg = Argument.String("id").pipe(Argument.withDescription("dead letter (trigger event) id"))

const list = Command.make("list", pageFlags, ({ limit, cursor }) =>
  Effect.gen(function*() {
    const page = (yield* odgm({
      method: "GET",
      path: "/api/dead-letters",
      query: { limit: Option.getOrUndefined(limit), cursor: Option.getOrUndefined(cursor) },
    })).json as Json
    const items = (page["deadLetters"] as Array<Json> | undefined) ?? []
    yield* emit(listed(items, page["nextCursor"]), () =>
      table(
        ["id", "attempts", "failed at", "error"],
        items.map((d) => [str(d["id"]), str(d["attempts"]), str(d["failedAt"]), cell(d["error"], 100)]),
        noRows(page["nextCursor"], "no dead letters"),
      ))
    yield* moreHint(page["nextCursor"])
  })).pipe(
    Command.withDescription("Trigger events that failed every delivery attempt"),
    Command.withExamples([{ command: "oprc dead-letters list -o json", description: "with their payloads, as JSON" }]),
  )

const redrive = Command.make("redrive", { id: idArg }, ({ id }) =>
  Effect.gen(function*() {
    const r = (yield* odgm({ method: "POST", path: `/api/dead-letters/${seg(id)}/redrive` })).json
    yield* emit(r, () => `dead letter ${id} redriven: it is delivered again with fresh attempts`)
  })).pipe(
    Command.withDescription("Deliver a dead letter again, with fresh attempts"),
    Command.withExamples([{ command: "oprc dead-letters redrive EVENT_ID", description: "retry one event" }]),
  )

const del = Command.make("delete", { id: idArg }, ({ id }) =>
  Effect.gen(function*() {
    const r = (yield* odgm({ method: "DELETE", path: `/api/dead-letters/${seg(id)}` })).json
    yield* emit(r, () => `dead letter ${id} discarded`)
  })).pipe(
    Command.withDescription("Discard a dead letter"),
    Command.withExamples([{ command: "oprc dead-letters delete EVENT_ID", description: "discard one event" }]),
  )

export const deadLettersCommand = Command.make("dead-letters").pipe(
  Command.withDescription("Dead letters: trigger events ODGM gave up delivering"),
  Command.withSubcommands([list, redrive, del]),
  Command.withExamples([{ command: "oprc dead-letters list", description: "what failed" }]),
)
