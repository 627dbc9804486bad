import { VERSION } from "@oprc/rpc"
import { runDev } from "./commands/dev"

const usage = `oprc ${VERSION}: command-line interface of the oprc Object-as-a-Service platform

Usage: oprc <command> [options]

Commands:
  dev        run the whole platform (PM :8080, ODGM :8081, CRM :8088) in one process
  version    print the version

Run 'oprc <command> --help' for a command's options.`

const [command, ...rest] = process.argv.slice(2)
switch (command) {
  case "dev":
    runDev(rest)
    break
  case "version":
  case "--version":
    console.log(`oprc ${VERSION}`)
    break
  case undefined:
  case "help":
  case "--help":
  case "-h":
    console.log(usage)
    break
  default:
    console.error(`oprc: unknown command "${command}"\n\n${usage}`)
    process.exit(2)
}
