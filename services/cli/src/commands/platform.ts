import { Console, Effect } from "effect"
import { Command } from "effect/cli"
import { VERSION } from "@oprc/rpc"

/**
 * `oprc dev` has its own parser (the servers' config flags: --set, --pm-port, ...), so main.ts
 * hands it the arguments before effect/cli sees them; this entry makes it appear in help and
 * completions. Loaded lazily: every other command starts without PM, CRM and ODGM in memory.
 */
export const startDev = (argv: ReadonlyArray<string>): void => {
  void import("./dev").then((m) => m.runDev(argv))
}

export const devCommand = Command.make("dev", {}, () => Effect.sync(() => startDev(["--help"]))).pipe(
  Command.withDescription(
    "Run the whole platform in one process: PM :8080, ODGM :8081, CRM :8088 ('oprc dev --help' lists its flags)",
  ),
  Command.withExamples([
    { command: "oprc dev", description: "PM, CRM and ODGM on the default ports" },
    { command: "oprc dev --pm-port 9080 --odgm-port 9081 --crm-port 9088", description: "on other ports" },
  ]),
)

export const versionCommand = Command.make("version", {}, () => Console.log(`oprc ${VERSION}`)).pipe(
  Command.withDescription("Print the version"),
  Command.withExamples([{ command: "oprc version", description: "e.g. oprc 0.1.0" }]),
)
