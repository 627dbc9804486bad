import { Schema } from "effect"

/** A storage failure other than a lost compare-and-swap. `retryable`: worth retrying (Unavailable). */
export class StorageError extends Schema.TaggedError<StorageError>()("StorageError", {
  operation: Schema.String,
  reason: Schema.String,
  retryable: Schema.Boolean,
  cause: Schema.optional(Schema.Defect()),
}) {
  override get message(): string {
    return `storage ${this.operation} failed: ${this.reason}`
  }
}
