import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { odgm, seg } from "../cli/Api"
import { CommandFailed } from "../cli/errors"
import { readPayloadArg } from "../cli/input"
import { emit, note, toJson } from "../cli/Output"
import { classArg, partitionFlag } from "./obj"

type Json = Record<string, unknown>

const invoke = Command.make("invoke", {
  cls: classArg,
  fn: Argument.String("function").pipe(Argument.withDescription("the class's function binding, e.g. increment")),
  object: Flag.String("object").pipe(
    Flag.optional,
    Flag.withMetavar("ID"),
    Flag.withDescription(
      "invoke on this object (created when the function writes state); without it the call is stateless",
    ),
  ),
  partition: partitionFlag,
  payload: Flag.String("payload").pipe(
    Flag.optional,
    Flag.withMetavar("JSON|@FILE|-"),
    Flag.withDescription("the payload: JSON text, @file, or - for standard input"),
  ),
  async: Flag.Boolean("async").pipe(
    Flag.withDefault(false),
    Flag.withDescription("return at once with an invocation id; fetch the result with 'oprc result ID'"),
  ),
  key: Flag.String("idempotency-key").pipe(
    Flag.optional,
    Flag.withMetavar("KEY"),
    Flag.withDescription("the invocation id: a retry with the same key is applied once and answers the first outcome"),
  ),
  timeoutMs: Flag.Int("timeout-ms").pipe(
    Flag.optional,
    Flag.withDescription("deadline of the call (ODGM's default 30000)"),
  ),
}, ({ cls, fn, object, partition, payload, async, key, timeoutMs }) =>
  Effect.gen(function*() {
    const body = Option.isSome(payload) ? yield* readPayloadArg(payload.value, "--payload") : undefined
    const path = Option.isSome(object)
      ? `/api/class/${seg(cls)}/${seg(partition)}/objects/${seg(object.value)}/invokes/${seg(fn)}`
      : `/api/class/${seg(cls)}/${seg(partition)}/invokes/${seg(fn)}`
    const deadline = Option.getOrElse(timeoutMs, () => 30_000)
    const reply = yield* odgm({
      method: "POST",
      path,
      query: { async: async ? true : undefined, timeoutMs: Option.getOrUndefined(timeoutMs) },
      headers: Option.isSome(key) ? { "x-oprc-invocation-id": key.value } : {},
      contentType: "application/json",
      timeoutMs: deadline + 5_000,
      ...(body === undefined ? {} : { body }),
    })
    if (async) {
      const id = String((reply.json as Json | undefined)?.["invocationId"] ?? "")
      yield* emit({ invocationId: id }, () => id)
      return yield* note(`accepted; the result: oprc result ${id} --wait`)
    }
    // The function's output as it came (JSON when it is JSON).
    const output = reply.json ?? (reply.text === "" ? null : reply.text)
    yield* emit(output, () => (typeof output === "string" ? output : output === null ? "" : toJson(output)))
  })).pipe(
    Command.withDescription("Invoke a function of a class, on an object or stateless, and print its output"),
    Command.withExamples([
      {
        command: "oprc invoke counter.Counter increment --object c1 --payload '{\"by\": 5}'",
        description: "on object c1",
      },
      {
        command: "oprc invoke counter.Counter get --object c1 --async --idempotency-key job-1",
        description: "asynchronously, with a key",
      },
      {
        command: "echo '{\"name\": \"ada\"}' | oprc invoke greeter.Greeter greet --payload -",
        description: "stateless, payload from stdin",
      },
    ]),
  )

const result = Command.make("result", {
  id: Argument.String("id").pipe(Argument.withDescription("invocation id (from invoke --async)")),
  wait: Flag.Boolean("wait").pipe(
    Flag.withAlias("w"),
    Flag.withDefault(false),
    Flag.withDescription("wait until the invocation is done"),
  ),
  timeout: Flag.Int("timeout").pipe(
    Flag.withDefault(300),
    Flag.withMetavar("SECONDS"),
    Flag.withDescription("with --wait: give up after this long, exit 1 (default 300)"),
  ),
}, ({ id, wait, timeout }) =>
  Effect.gen(function*() {
    const started = Date.now()
    let r: Json
    for (;;) {
      const left = timeout * 1000 - (Date.now() - started)
      const waitMs = wait ? Math.max(0, Math.min(10_000, left)) : 0
      r = (yield* odgm({
        method: "GET",
        path: `/api/invocations/${seg(id)}`,
        query: { waitMs: waitMs > 0 ? waitMs : undefined },
        timeoutMs: waitMs + 10_000,
      })).json as Json
      if (!wait || r["state"] === "DONE" || left <= 0) break
    }
    yield* emit(r, () =>
      r["state"] === "DONE"
        ? `${String(r["status"])}${r["output"] === undefined ? "" : ` ${JSON.stringify(r["output"])}`}${
          r["error"] === undefined ? "" : ` (${String(r["error"])})`
        }`
        : `${String(r["state"])} (not done yet)`)
    if (wait && r["state"] !== "DONE") {
      return yield* new CommandFailed({
        reason: `invocation ${id} not done after ${timeout} s (state ${String(r["state"])})`,
      })
    }
    if (r["state"] === "DONE" && r["status"] !== "OK") {
      return yield* new CommandFailed({
        reason: `invocation ${id} ended with ${String(r["status"])}${
          r["error"] === undefined ? "" : `: ${String(r["error"])}`
        }`,
      })
    }
  })).pipe(
    Command.withDescription("The state and result of an asynchronous invocation (exit 1 when it did not end OK)"),
    Command.withExamples([{ command: "oprc result job-1 --wait", description: "wait for the result" }, {
      command: "oprc result job-1 -o json",
      description: "as JSON: invocationId, state, status, output",
    }]),
  )

export const invokeCommands = [invoke, result] as const
