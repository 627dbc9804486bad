import { Schema } from "effect"

/**
 * The backend failed (I/O, connection, corrupt document). `retryable` says whether the same
 * request may succeed later (etcd leader election, a busy SQLite file) so callers and the edge
 * mapper can answer UNAVAILABLE instead of INTERNAL.
 */
export class StorageError extends Schema.TaggedError<StorageError>()("StorageError", {
  reason: Schema.String,
  retryable: Schema.Boolean,
}) {
  override get message(): string {
    return this.reason
  }
}
