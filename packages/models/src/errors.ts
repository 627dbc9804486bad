import { Effect, Schema } from "effect"

/**
 * The platform's domain errors. Services fail with these (or subclasses of their tags) and the
 * one edge mapper in @oprc/rpc turns each tag into a Connect code and an HTTP status, so a
 * handler never decides a status code itself.
 */

export const FieldViolation = Schema.Struct({
  /** Dotted path with indexes, e.g. `classes[0].bindings[1].function`; "" for the whole input. */
  path: Schema.String,
  message: Schema.String,
})
export type FieldViolation = typeof FieldViolation.Type

/** Input that does not satisfy the contract: 400 / INVALID_ARGUMENT, with every violation. */
export class ValidationError extends Schema.TaggedError<ValidationError>()("ValidationError", {
  violations: Schema.Array(FieldViolation),
}) {
  /** The first few violations: the full list travels beside the message, so it is not repeated here. */
  override get message(): string {
    const shown = this.violations.slice(0, 10).map((v) => (v.path ? `${v.path}: ${v.message}` : v.message)).join("; ")
    const rest = this.violations.length - 10
    return rest > 0 ? `${shown}; and ${rest} more (see violations)` : shown
  }
  static single(path: string, message: string): ValidationError {
    return new ValidationError({ violations: [{ path, message }] })
  }
}

/** 404 / NOT_FOUND */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", {
  resource: Schema.String,
  name: Schema.String,
}) {
  override get message(): string {
    return `${this.resource} "${this.name}" not found`
  }
}

/** 409 / ALREADY_EXISTS */
export class AlreadyExists extends Schema.TaggedError<AlreadyExists>()("AlreadyExists", {
  resource: Schema.String,
  name: Schema.String,
}) {
  override get message(): string {
    return `${this.resource} "${this.name}" already exists`
  }
}

/** A compare-and-swap lost: the caller's expected version is stale. 409 / ABORTED. */
export class VersionConflict extends Schema.TaggedError<VersionConflict>()("VersionConflict", {
  resource: Schema.String,
  name: Schema.String,
  expected: Schema.optional(Schema.String),
  actual: Schema.optional(Schema.String),
}) {
  override get message(): string {
    const detail = this.expected !== undefined
      ? ` (expected version ${this.expected}${this.actual !== undefined ? `, found ${this.actual}` : ""})`
      : ""
    return `${this.resource} "${this.name}" was modified concurrently${detail}; read it again and retry`
  }
}

/** The request is valid but the system's state forbids it (e.g. deleting a deployed package). 409 / FAILED_PRECONDITION. */
export class FailedPrecondition extends Schema.TaggedError<FailedPrecondition>()("FailedPrecondition", {
  reason: Schema.String,
}) {
  override get message(): string {
    return this.reason
  }
}

/** 401 / UNAUTHENTICATED */
export class Unauthenticated extends Schema.TaggedError<Unauthenticated>()("Unauthenticated", {
  reason: Schema.String,
}) {
  override get message(): string {
    return this.reason
  }
}

/** 403 / PERMISSION_DENIED */
export class PermissionDenied extends Schema.TaggedError<PermissionDenied>()("PermissionDenied", {
  reason: Schema.String,
}) {
  override get message(): string {
    return this.reason
  }
}

/** A dependency (a CRM, a function, storage) cannot be reached right now. 503 / UNAVAILABLE. */
export class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", {
  reason: Schema.String,
}) {
  override get message(): string {
    return this.reason
  }
}

/** 504 / DEADLINE_EXCEEDED */
export class DeadlineExceeded extends Schema.TaggedError<DeadlineExceeded>()("DeadlineExceeded", {
  reason: Schema.String,
}) {
  override get message(): string {
    return this.reason
  }
}

/**
 * A storage backend failed (I/O, connection, a corrupt document, a closed store): the one class
 * for the control-plane stores (@oprc/cp-storage) and the ODGM's object stores. `retryable`
 * says whether the same request may succeed later (etcd leader election, a busy SQLite file, NATS
 * failover): the edge answers a retryable one 503 / UNAVAILABLE, any other 500 / INTERNAL.
 * `operation` names the step that failed when the store knows it ("commit", "open", ...).
 */
export class StorageError extends Schema.TaggedError<StorageError>()("StorageError", {
  operation: Schema.optional(Schema.String),
  reason: Schema.String,
  retryable: Schema.Boolean,
  cause: Schema.optional(Schema.Defect()),
}) {
  override get message(): string {
    return this.operation === undefined ? this.reason : `storage ${this.operation} failed: ${this.reason}`
  }
}

/** A retryable storage failure as a client sees it: 503 / UNAVAILABLE, "storage unavailable: ...". */
export const storageUnavailable = (e: StorageError): Unavailable =>
  new Unavailable({ reason: `storage unavailable: ${e.reason}` })

/**
 * Storage failures at a service boundary, the one helper for every service: a retryable one (etcd
 * electing a leader, a busy SQLite file, a NATS failover) becomes Unavailable so clients retry;
 * any other is a defect (500 with a reference id, logged with its cause). It does not retry:
 * retries belong to the storage layer (docs/architecture.md "Retries").
 */
export const orUnavailable = <A, E, R>(
  effect: Effect.Effect<A, E | StorageError, R>,
): Effect.Effect<A, Exclude<E, StorageError> | Unavailable, R> =>
  Effect.catch(
    effect,
    (e): Effect.Effect<never, Exclude<E, StorageError> | Unavailable> =>
      e instanceof StorageError
        ? (e.retryable ? Effect.fail(storageUnavailable(e)) : Effect.die(e))
        : Effect.fail(e as Exclude<E, StorageError>),
  )

/** A body or payload over the configured limit. 413 / RESOURCE_EXHAUSTED. */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", {
  limitBytes: Schema.Number,
}) {
  override get message(): string {
    return `request body exceeds the limit of ${this.limitBytes} bytes`
  }
}

export type DomainError =
  | ValidationError
  | NotFound
  | AlreadyExists
  | VersionConflict
  | FailedPrecondition
  | Unauthenticated
  | PermissionDenied
  | Unavailable
  | DeadlineExceeded
  | PayloadTooLarge
  | StorageError
