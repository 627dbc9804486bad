import { Command } from "effect/cli"
import { globalFlags } from "./cli/flags"
import { runCli } from "./cli/run"
import { clsCommand, fnCommand } from "./commands/catalog"
import { ctxCommand } from "./commands/ctx"
import { deadLettersCommand } from "./commands/deadLetters"
import { clustersCommand, depCommand } from "./commands/dep"
import { invokeCommands } from "./commands/invoke"
import { logsCommand } from "./commands/logs"
import { objCommand } from "./commands/obj"
import { pkgCommand } from "./commands/pkg"
import { devCommand, startDev, versionCommand } from "./commands/platform"

const root = Command.make("oprc").pipe(
  Command.withDescription("Command-line interface of the oprc Object-as-a-Service platform"),
  Command.withSubcommands([
    ctxCommand,
    pkgCommand,
    clsCommand,
    fnCommand,
    depCommand,
    clustersCommand,
    objCommand,
    ...invokeCommands,
    logsCommand,
    deadLettersCommand,
    devCommand,
    versionCommand,
  ]),
  Command.withGlobalFlags(globalFlags),
)

const argv = process.argv.slice(2)
// `oprc dev` runs the servers with their own config flags (--set, --pm-port, ...), see commands/dev.ts.
if (argv[0] === "dev" && !argv.includes("--completions")) startDev(argv.slice(1))
else runCli(root, argv)
