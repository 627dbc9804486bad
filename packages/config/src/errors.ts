import { Schema } from "effect"

/** Where a configuration value (or problem) came from. */
export const ConfigSource = Schema.Union([
  Schema.TaggedStruct("File", {
    file: Schema.String,
    line: Schema.optionalKey(Schema.Number),
    column: Schema.optionalKey(Schema.Number),
  }),
  Schema.TaggedStruct("Env", { name: Schema.String }),
  Schema.TaggedStruct("Flag", { flag: Schema.String }),
  Schema.TaggedStruct("Default", {}),
])
export type ConfigSource = typeof ConfigSource.Type

/** One configuration problem: the key path ("" when the problem is not about one key). */
export const ConfigIssue = Schema.Struct({
  path: Schema.String,
  message: Schema.String,
  source: Schema.optionalKey(ConfigSource),
})
export type ConfigIssue = typeof ConfigIssue.Type

export const formatSource = (source: ConfigSource): string => {
  switch (source._tag) {
    case "File":
      return `file ${source.file}${
        source.line === undefined ? "" : `:${source.line}${source.column === undefined ? "" : `:${source.column}`}`
      }`
    case "Env":
      return `env ${source.name}`
    case "Flag":
      return `flag ${source.flag}`
    case "Default":
      return "default"
  }
}

/** "server.port: expected ..., got "abc" (from env OPRC_SERVER_PORT)", or "config file x.yaml:3:1: invalid YAML: ...". */
export const formatIssue = (issue: ConfigIssue): string => {
  if (issue.path !== "") {
    return issue.source === undefined
      ? `${issue.path}: ${issue.message}`
      : `${issue.path}: ${issue.message} (from ${formatSource(issue.source)})`
  }
  if (issue.source === undefined) return issue.message
  return `${issue.source._tag === "File" ? "config " : ""}${formatSource(issue.source)}: ${issue.message}`
}

/** The configuration could not be loaded; `issues` lists every problem found, not just the first. */
export class ConfigLoadError extends Schema.TaggedError<ConfigLoadError>()("ConfigLoadError", {
  issues: Schema.Array(ConfigIssue),
}) {
  override get message(): string {
    const n = this.issues.length
    const head = n === 1 ? "invalid configuration:" : `invalid configuration (${n} problems):`
    return [head, ...this.issues.map((issue) => `  - ${formatIssue(issue)}`)].join("\n")
  }
}
