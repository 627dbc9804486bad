import { Effect } from "effect"
import { dnsLabelMessage, isDnsLabel, ValidationError } from "@oprc/models"

/** A name in a request (path parameter or message field) must be a DNS-1123 label; 400 names the field. */
export const checkName = (field: string, value: string): Effect.Effect<string, ValidationError> =>
  isDnsLabel(value)
    ? Effect.succeed(value)
    : Effect.fail(
      ValidationError.single(field, value === "" ? "is required" : `${JSON.stringify(value)} ${dnsLabelMessage}`),
    )
