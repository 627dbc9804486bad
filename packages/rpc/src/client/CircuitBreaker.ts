import { Clock, Effect, Schema } from "effect"

export type BreakerState = "closed" | "open" | "half-open"

export interface BreakerOptions {
  /** Consecutive failures that open the breaker. */
  readonly failureThreshold: number
  /** How long it stays open before letting one trial call through. */
  readonly resetTimeoutMs: number
  readonly onStateChange?: (state: BreakerState) => void
}

/** The call was not attempted: the target has been failing and the breaker is open. */
export class CircuitOpen extends Schema.TaggedError<CircuitOpen>()("CircuitOpen", {
  target: Schema.String,
  retryInMs: Schema.Number,
}) {
  override get message(): string {
    return `${this.target} is unavailable (circuit open, next trial in ${this.retryInMs} ms)`
  }
}

/**
 * A per-target circuit breaker: closed -> open after `failureThreshold` consecutive failures,
 * open -> half-open after `resetTimeoutMs` (exactly one trial call), half-open -> closed on
 * success or back to open on failure. Time comes from Clock so tests can drive it.
 */
export class CircuitBreaker {
  private stateValue: BreakerState = "closed"
  private failures = 0
  private openedAt = 0
  private trialInFlight = false

  constructor(
    readonly target: string,
    private readonly options: BreakerOptions = { failureThreshold: 5, resetTimeoutMs: 5000 },
  ) {}

  get state(): BreakerState {
    return this.stateValue
  }

  get consecutiveFailures(): number {
    return this.failures
  }

  private transition(next: BreakerState) {
    if (next === this.stateValue) return
    this.stateValue = next
    this.options.onStateChange?.(next)
  }

  /** Wraps one call attempt. `isFailure` decides which errors count against the target. */
  protect<A, E, R>(effect: Effect.Effect<A, E, R>, isFailure: (e: E) => boolean): Effect.Effect<A, E | CircuitOpen, R> {
    const self = this
    return Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      if (self.stateValue === "open") {
        const waited = now - self.openedAt
        if (waited < self.options.resetTimeoutMs) {
          return yield* new CircuitOpen({ target: self.target, retryInMs: self.options.resetTimeoutMs - waited })
        }
        self.transition("half-open")
      }
      if (self.stateValue === "half-open") {
        if (self.trialInFlight) return yield* new CircuitOpen({ target: self.target, retryInMs: 0 })
        self.trialInFlight = true
      }
      const wasTrial = self.stateValue === "half-open"
      return yield* effect.pipe(
        Effect.tapError((e) => (isFailure(e) ? self.recordFailure() : self.recordSuccess())),
        Effect.tap(() => self.recordSuccess()),
        Effect.ensuring(Effect.sync(() => {
          if (wasTrial) self.trialInFlight = false
        })),
      )
    })
  }

  private recordSuccess(): Effect.Effect<void> {
    return Effect.sync(() => {
      this.failures = 0
      this.transition("closed")
    })
  }

  private recordFailure(): Effect.Effect<void> {
    const self = this
    return Effect.gen(function*() {
      self.failures++
      if (self.stateValue === "half-open" || self.failures >= self.options.failureThreshold) {
        self.openedAt = yield* Clock.currentTimeMillis
        self.transition("open")
      }
    })
  }
}
