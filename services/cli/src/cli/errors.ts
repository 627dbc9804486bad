import { Schema } from "effect"

/**
 * The CLI's failures, each with the exit code scripts rely on: 1 the server refused (or the
 * command's outcome was a failure, or an input file is invalid), 2 usage (bad flags, unreadable input files), 3 a server
 * could not be reached.
 */

export const FieldPath = Schema.Struct({ path: Schema.String, message: Schema.String })
export type FieldPath = typeof FieldPath.Type

/** A server answered with an error (4xx/5xx): its code, message and field violations. */
export class ServerRefused extends Schema.TaggedError<ServerRefused>()("ServerRefused", {
  server: Schema.String,
  status: Schema.Number,
  code: Schema.String,
  reason: Schema.String,
  violations: Schema.Array(FieldPath),
}) {
  override get message(): string {
    return `${this.server}: ${this.reason} (${this.code}, HTTP ${this.status})`
  }
}

/** Nothing answered at the server's URL (refused, reset, DNS, TLS, timeout). */
export class Unreachable extends Schema.TaggedError<Unreachable>()("Unreachable", {
  server: Schema.String,
  url: Schema.String,
  reason: Schema.String,
}) {
  override get message(): string {
    return `cannot reach the ${this.server} at ${this.url}: ${this.reason} (is it running? set the URL with 'oprc ctx set' or --${this.server.toLowerCase()}-url)`
  }
}

/** The command line or an input file is wrong; nothing was sent. */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", {
  reason: Schema.String,
  violations: Schema.optionalKey(Schema.Array(FieldPath)),
}) {
  override get message(): string {
    return this.reason
  }
}

/** An input file's content is invalid (checked locally with the servers' own validation); nothing was sent. */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()("InvalidInput", {
  reason: Schema.String,
  violations: Schema.Array(FieldPath),
}) {
  override get message(): string {
    return this.reason
  }
}

/** The command ran, but its outcome is a failure (a deployment Failed, an invocation's result not OK). */
export class CommandFailed extends Schema.TaggedError<CommandFailed>()("CommandFailed", {
  reason: Schema.String,
}) {
  override get message(): string {
    return this.reason
  }
}

export type CliFailure = ServerRefused | Unreachable | UsageError | InvalidInput | CommandFailed

export const exitCodeOf = (e: CliFailure): number => {
  switch (e._tag) {
    case "ServerRefused":
    case "CommandFailed":
    case "InvalidInput":
      return 1
    case "UsageError":
      return 2
    case "Unreachable":
      return 3
  }
}

/** One line with the reason, then one indented line per field path. */
export const renderFailure = (e: CliFailure): string => {
  const violations = e._tag === "ServerRefused" || e._tag === "InvalidInput"
    ? e.violations
    : e._tag === "UsageError"
    ? (e.violations ?? [])
    : []
  const lines = [
    `error: ${e.message}`,
    ...violations.map((v) => `  ${v.path === "" ? "(input)" : v.path}: ${v.message}`),
  ]
  return lines.join("\n")
}
