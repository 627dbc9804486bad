import { Console, Effect, Option } from "effect"
import { Completions, Flag, GlobalFlag } from "effect/cli"

type Descriptor = Completions.CommandDescriptor

/**
 * The global flags as effect/cli's completion generator sees flags. Its descriptor (4.1) only
 * holds each command's own flags, so `oprc pkg list -<TAB>` would not offer -o or --context.
 */
const globalFlagDescriptors: ReadonlyArray<Completions.FlagDescriptor> = [
  {
    name: "output",
    aliases: ["o"],
    description: "output format",
    type: { _tag: "Choice", values: ["table", "json", "yaml"] },
  },
  { name: "context", aliases: [], description: "use this context", type: { _tag: "String" } },
  { name: "pm-url", aliases: [], description: "Package Manager URL", type: { _tag: "String" } },
  { name: "odgm-url", aliases: [], description: "Object Data Grid Manager URL", type: { _tag: "String" } },
  { name: "crm-url", aliases: [], description: "Class Runtime Manager URL", type: { _tag: "String" } },
  { name: "token", aliases: [], description: "bearer token", type: { _tag: "String" } },
  { name: "ca-file", aliases: [], description: "PEM CA bundle", type: { _tag: "Path", pathType: "file" } },
  { name: "help", aliases: ["h"], description: "show help", type: { _tag: "Boolean" }, negation: false },
]

const withGlobalFlags = (d: Descriptor): Descriptor => ({
  ...d,
  flags: [...d.flags, ...globalFlagDescriptors.filter((g) => !d.flags.some((f) => f.name === g.name))],
  subcommands: d.subcommands.map(withGlobalFlags),
})

/** `--completions SHELL`, like effect/cli's built-in one, with the global flags on every command. */
export const CompletionsWithGlobals: GlobalFlag.Action<Option.Option<Completions.Shell>> = GlobalFlag.Action({
  flag: Flag.ChoiceWithValue(
    "completions",
    [["bash", "bash"], ["zsh", "zsh"], ["fish", "fish"], ["powershell", "powershell"], ["sh", "bash"], [
      "pwsh",
      "powershell",
    ]] as const,
  ).pipe(
    Flag.optional,
    Flag.withMetavar("<bash|zsh|fish|powershell|sh|pwsh>"),
    Flag.withDescription("Print shell completion script"),
  ),
  run: (shell, { command }) =>
    Option.isNone(shell)
      ? Effect.void
      : Console.log(Completions.generate(command.name, shell.value, withGlobalFlags(Completions.fromCommand(command)))),
})
