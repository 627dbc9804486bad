import { Effect, Result } from "effect"
import type { FieldViolation, ValidationError } from "../src/index"

/** The violations of an effect that must fail validation. */
export const violationsOf = <A>(effect: Effect.Effect<A, ValidationError>): ReadonlyArray<FieldViolation> => {
  const result = Effect.runSync(Effect.result(effect))
  if (Result.isSuccess(result)) throw new Error(`expected a ValidationError, got ${JSON.stringify(result.success)}`)
  return result.failure.violations
}

/** The value of an effect that must pass validation (throws the ValidationError's message otherwise). */
export const valueOf = <A>(effect: Effect.Effect<A, ValidationError>): A => {
  const result = Effect.runSync(Effect.result(effect))
  if (Result.isFailure(result)) throw new Error(result.failure.message)
  return result.success
}

/** Paths of the violations, for asserting exactly where problems were found. */
export const pathsOf = <A>(effect: Effect.Effect<A, ValidationError>): ReadonlyArray<string> =>
  violationsOf(effect).map((v) => v.path)
