// (The module, not the package index: see packages/runtime/src/binary.ts.)
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Cause, Console, Effect, Exit, Layer } from "effect"
import { CliConfig, CliError, CliOutput, Command, GlobalFlag } from "effect/cli"
import { VERSION } from "@oprc/rpc"
import { Api } from "./Api"
import { CompletionsWithGlobals } from "./completions"
import { ContextStore } from "./ContextStore"
import { type CliFailure, exitCodeOf, renderFailure } from "./errors"

const cliFailureTags = new Set(["ServerRefused", "Unreachable", "UsageError", "InvalidInput", "CommandFailed"])
const isCliFailure = (e: unknown): e is CliFailure =>
  typeof e === "object" && e !== null && cliFailureTags.has((e as { _tag?: string })._tag ?? "")

/**
 * Help goes to stdout; a usage mistake is one line on stderr naming the problem, plus where to
 * find the command's help, instead of the whole help page burying the error.
 */
const presenter: CliOutput.Presenter = {
  present: (event) =>
    Effect.gen(function*() {
      const formatter = CliOutput.defaultFormatter({ colors: false })
      switch (event._tag) {
        case "Help":
          return yield* Console.log(formatter.formatHelpDoc(event.helpDoc))
        case "Version":
          return yield* Console.log(`${event.name} ${event.version}`)
        case "InvalidInvocation":
          for (const e of event.errors) {
            yield* Console.error(`error: ${e.message.split("\n").join(" ").replace(/\s+/g, " ").trim()}`)
          }
          return yield* Console.error(`Run '${event.commandPath.join(" ")} --help' for usage.`)
      }
    }),
}

/** The CLI's services; the flags every command shares are global flags of the root command. */
const cliLayer = Layer.mergeAll(
  NodeServices.layer,
  ContextStore.layer,
  Api.layer,
  // --wizard and --log-level make no sense for this CLI; help, version and completions stay.
  CliConfig.layer({ builtIns: [GlobalFlag.Help, GlobalFlag.Version, CompletionsWithGlobals] }),
  CliOutput.layerPresenter(presenter),
)

/** Exit codes: 0 ok, 1 the server refused (or the outcome failed), 2 usage, 3 unreachable, 130 interrupted. */
const exitCode = (exit: Exit.Exit<unknown, unknown>): number => {
  if (Exit.isSuccess(exit)) return 0
  if (Cause.hasInterruptsOnly(exit.cause)) return 130
  const failure = Cause.findErrorOption(exit.cause)
  if (failure._tag === "None") return 1
  const e = failure.value
  if (isCliFailure(e)) return exitCodeOf(e)
  if (CliError.isCliError(e)) return e._tag === "ShowHelp" && e.errors.length === 0 ? 0 : 2
  return 1
}

/** Runs the command tree on `argv` and exits the process with the code scripts rely on. */
export const runCli = <Name extends string, Input, E>(
  root: Command.Command<Name, Input, {}, E, ContextStore | Api>,
  argv: ReadonlyArray<string>,
): void => {
  const program = Command.runWith(root, { version: VERSION, renderErrors: true })(argv).pipe(
    Effect.tapError((e) => (isCliFailure(e) ? Console.error(renderFailure(e)) : Effect.void)),
    Effect.tapDefect((d) => Console.error(`oprc: internal error: ${d instanceof Error ? d.message : String(d)}`)),
    Effect.provide(cliLayer),
  )
  // Ctrl-C (e.g. during --watch or --follow): clear a half-drawn spinner line, exit 130.
  process.once("SIGINT", () => {
    if (process.stdout.isTTY === true) process.stdout.write("\r\x1b[2K")
    process.exit(130)
  })
  void Effect.runPromiseExit(program).then((exit) => process.exit(exitCode(exit)))
}
