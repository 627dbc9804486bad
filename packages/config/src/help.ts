import { Option, Redacted, type Schema, SchemaAST } from "effect"
import { checkFlagMap, type FlagMap } from "./args.ts"
import { describeSchema, type Leaf } from "./spec.ts"

const typeHint = (ast: SchemaAST.AST): string => {
  switch (ast._tag) {
    case "String":
    case "TemplateLiteral":
      return "string"
    case "Number":
      return "number"
    case "Boolean":
      return "boolean"
    case "Literal":
      return String(ast.literal)
    case "Union":
      return ast.types.filter((t) => !SchemaAST.isUndefined(t) && !SchemaAST.isNull(t)).map(typeHint).join("|")
    case "Arrays": {
      const element = ast.rest[0] ?? ast.elements[0]
      return element !== undefined && !SchemaAST.isObjects(element) ? `${typeHint(element)},...` : "json"
    }
    default:
      return "json"
  }
}

const showDefault = (value: unknown): string =>
  Redacted.isRedacted(value) ? "<redacted>" : JSON.stringify(value) ?? String(value)

const status = (leaf: Leaf): string =>
  Option.match(leaf.defaultValue(), {
    onSome: (value) => `default ${showDefault(value)}`,
    onNone: () =>
      leaf.required ? (leaf.within === undefined ? "required" : `required with ${leaf.within}`) : "optional",
  })

const table = (rows: ReadonlyArray<readonly [string, string]>): ReadonlyArray<string> => {
  const width = Math.max(0, ...rows.map(([left]) => left.length)) + 2
  return rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`.trimEnd())
}

/**
 * Help text for a service binary: the command-line flags, then every configuration key with its
 * environment variable, type and default. `envPrefix` must match the one given to loadConfig.
 */
export const helpText = (schema: Schema.Top, flags: FlagMap = {}, envPrefix = "OPRC"): string => {
  const spec = describeSchema(schema, envPrefix)
  checkFlagMap(spec, flags)
  const flagRows: Array<readonly [string, string]> = [
    ["--config <file>", "read a .yaml, .yml, .toml or .json config file"],
    ...Object.entries(flags).map(([flag, key]): readonly [string, string] => {
      const leaf = spec.byKey.get(key)
      const value = leaf?.encoded._tag === "Boolean"
        ? ""
        : ` <${leaf === undefined ? "value" : typeHint(leaf.encoded)}>`
      return [`${flag}${value}`, `set ${key}`]
    }),
    ["--set <key>=<value>", "set any key listed below"],
    ["--help", "show this help"],
    ["--version", "show the version"],
  ]
  const keyRows = spec.leaves.flatMap((leaf): ReadonlyArray<readonly [string, string]> => [
    [`${leaf.key} <${typeHint(leaf.encoded)}>`, `${leaf.env}  (${status(leaf)}${leaf.sensitive ? ", secret" : ""})`],
    ...(leaf.description === undefined ? [] : [["", `    ${leaf.description}`] as const]),
  ])
  return [
    "Options:",
    ...table(flagRows),
    "",
    `Configuration keys (precedence: defaults < --config file < ${envPrefix}_* environment < flags):`,
    ...table(keyRows),
  ].join("\n")
}
