import { closingQuote } from "@oprc/models"
/**
 * Shape limits of JSON *text*, checked before JSON.parse: parsing, Schema decoding and protobuf
 * conversion all recurse per nesting level (a body nested 100 k deep overflowed the stack: 500),
 * and the work after parsing grows with the number of values (a 4 MB array of 2 M numbers kept
 * ODGM's event loop busy for seconds). One linear pass, no allocation, stopping at the first
 * limit crossed; it does not validate the JSON (JSON.parse does that afterwards).
 */
export type JsonTextIssue =
  | { readonly kind: "depth"; readonly limit: number; readonly offset: number }
  | { readonly kind: "values"; readonly limit: number; readonly offset: number }

export const scanJsonText = (
  text: string,
  maxDepth: number,
  maxValues = Number.POSITIVE_INFINITY,
): JsonTextIssue | undefined => {
  let depth = 0
  // Values are counted by their separators (each ',' adds one): cheap, and exact for the wide
  // arrays and objects that make the work after parsing grow.
  let values = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 34 /* " */) {
      i = closingQuote(text, i)
      if (i < 0) return undefined
    } else if (c === 44 /* , */) {
      if (++values > maxValues) return { kind: "values", limit: maxValues, offset: i }
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > maxDepth) return { kind: "depth", limit: maxDepth, offset: i }
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--
  }
  return undefined
}

/** Only the depth (YAML flow collections, where commas do not count values the same way). */
export const jsonTextDepthExceeded = (text: string, limit: number) => {
  const issue = scanJsonText(text, limit)
  return issue === undefined ? undefined : { limit: issue.limit, offset: issue.offset }
}

export const depthMessage = (limit: number, where?: string) =>
  `is nested deeper than ${limit} levels${where ? ` (at ${where})` : ""}`

export const issueMessage = (issue: JsonTextIssue) =>
  issue.kind === "depth"
    ? depthMessage(issue.limit, `character ${issue.offset}`)
    : `holds more than ${issue.limit} values (server.maxJsonValues, at character ${issue.offset}); split it up`
