import { Effect } from "effect"
import { ValidationError } from "@oprc/models"
import type { RestRequest } from "@oprc/rpc"

/** Query parameters, accepting the Rust Oparaca's snake_case names beside our camelCase ones. */
export const param = (request: RestRequest, ...names: ReadonlyArray<string>): string | undefined => {
  for (const n of names) {
    const v = request.query.get(n)
    if (v !== null) return v
  }
  return undefined
}

/** A non-negative integer query parameter, or a 400 naming it. */
export const intParam = (
  request: RestRequest,
  name: string,
  ...aliases: ReadonlyArray<string>
): Effect.Effect<number | undefined, ValidationError> => {
  const raw = param(request, name, ...aliases)
  if (raw === undefined || raw === "") return Effect.succeed(undefined)
  return /^[0-9]{1,15}$/.test(raw)
    ? Effect.succeed(Number(raw))
    : Effect.fail(
      ValidationError.single(name, `expected a non-negative integer, got ${JSON.stringify(raw.slice(0, 40))}`),
    )
}

export const boolParam = (request: RestRequest, name: string): Effect.Effect<boolean, ValidationError> => {
  const raw = request.query.get(name)
  if (raw === null || raw === "" || raw === "false" || raw === "0") return Effect.succeed(false)
  if (raw === "true" || raw === "1") return Effect.succeed(true)
  return Effect.fail(ValidationError.single(name, `expected true or false, got ${JSON.stringify(raw.slice(0, 40))}`))
}

/** Repeated or comma-separated values: `?tags=a&tags=b` or `?tags=a,b`. */
export const listParam = (request: RestRequest, name: string): ReadonlyArray<string> =>
  request.query.getAll(name).flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "")

/**
 * The revision an update is conditional on: `?expectedRevision=N`, an `If-Match: "N"` header, or
 * the `revision` the client read and sent back in the body (0 / absent = unconditional).
 */
export const expectedRevision = (request: RestRequest, bodyRevision: number): Effect.Effect<number, ValidationError> =>
  Effect.gen(function*() {
    const fromQuery = yield* intParam(request, "expectedRevision", "expected_revision")
    if (fromQuery !== undefined) return fromQuery
    const ifMatch = request.header("if-match")
    if (ifMatch !== null) {
      const m = /^\s*(?:W\/)?"?([0-9]{1,15})"?\s*$/.exec(ifMatch)
      if (m === null) {
        return yield* ValidationError.single(
          "If-Match",
          `expected a revision such as "12", got ${JSON.stringify(ifMatch.slice(0, 40))}`,
        )
      }
      return Number(m[1])
    }
    return bodyRevision
  })

/** The body as text: the edge's strict UTF-8 decode when it made one (text types), decoded here otherwise. */
export const bodyText = (request: RestRequest): string => request.text ?? new TextDecoder().decode(request.body)

/** The route's path parameter (always present once the route matched). */
export const pathParam = (request: RestRequest, name: string): string => request.params[name] ?? ""
