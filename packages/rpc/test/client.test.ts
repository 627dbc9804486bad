import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { Effect, Exit } from "effect"
import { TestClock } from "effect/testing"
import { functionv1 } from "@oprc/proto"
import { CircuitBreaker, CircuitOpen, makeClient, type RpcClientError, startServer } from "../src"
import { testServer } from "./fixture"

const payload = (o: unknown) => new TextEncoder().encode(JSON.stringify(o))
const counter = { calls: 0 }
let server: Awaited<ReturnType<typeof startServer>>

beforeAll(async () => {
  server = await startServer(testServer(counter))
})
afterAll(() => server.stop())

const failure = <A>(exit: Exit.Exit<A, RpcClientError>) => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const e = exit.cause.reasons.find((r) => r._tag === "Fail")
  if (!e || e._tag !== "Fail") throw new Error("expected a typed failure")
  return e.error
}

describe("resilient client", () => {
  test("a call the caller marks idempotent is retried through transient UNAVAILABLE", async () => {
    counter.calls = 0
    const client = makeClient(functionv1.FunctionService, {
      baseUrl: server.url,
      retry: { maxAttempts: 4, baseDelayMs: 10, maxDelayMs: 50 },
    })
    const res = await Effect.runPromise(
      client.invoke({ cls: "c", payload: payload({ do: "flaky", failFirst: 2 }) }, { idempotent: true }),
    )
    expect(res.status).toBe(functionv1.InvocationStatus.OK)
    expect(counter.calls).toBe(3)
  })

  test("a non-idempotent call is never retried", async () => {
    counter.calls = 0
    const client = makeClient(functionv1.FunctionService, {
      baseUrl: server.url,
      retry: { maxAttempts: 4, baseDelayMs: 10, maxDelayMs: 50 },
    })
    const exit = await Effect.runPromiseExit(
      client.invoke({ cls: "c", payload: payload({ do: "flaky", failFirst: 2 }) }),
    )
    expect(failure(exit).code).toBe("unavailable")
    expect(counter.calls).toBe(1)
  })

  test("the per-attempt deadline fails the call with deadline_exceeded in time", async () => {
    const client = makeClient(functionv1.FunctionService, {
      baseUrl: server.url,
      timeoutMs: 100,
      retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    })
    const started = performance.now()
    const exit = await Effect.runPromiseExit(client.invoke({ cls: "c", payload: payload({ do: "sleep", ms: 3000 }) }))
    expect(failure(exit).code).toBe("deadline_exceeded")
    expect(performance.now() - started).toBeLessThan(1000)
  })

  test("domain errors come back with their code and are not retried", async () => {
    counter.calls = 0
    const client = makeClient(functionv1.FunctionService, { baseUrl: server.url, protocol: "grpc" })
    const exit = await Effect.runPromiseExit(
      client.invoke({ cls: "zz", payload: payload({ do: "notfound" }) }, { idempotent: true }),
    )
    const e = failure(exit)
    expect(e.code).toBe("not_found")
    expect(e.reason).toBe("object \"zz\" not found")
    expect(counter.calls).toBe(1)
  })

  test("breaker: closed -> open after failures -> half-open trial -> closed when the target returns", async () => {
    const states: Array<string> = []
    const breaker = new CircuitBreaker("down", {
      failureThreshold: 3,
      resetTimeoutMs: 300,
      onStateChange: (s) => states.push(s),
    })
    // A port nothing listens on: connection refused = unavailable.
    const dead = makeClient(functionv1.FunctionService, {
      baseUrl: "http://127.0.0.1:1",
      breaker,
      retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    })
    for (let i = 0; i < 3; i++) {
      expect(failure(await Effect.runPromiseExit(dead.invoke({ cls: "c" }))).code).toBe("unavailable")
    }
    expect(breaker.state).toBe("open")
    const fast = performance.now()
    expect(failure(await Effect.runPromiseExit(dead.invoke({ cls: "c" }))).code).toBe("circuit_open")
    expect(performance.now() - fast).toBeLessThan(50)
    // The target "comes back": same breaker, a live URL.
    const live = makeClient(functionv1.FunctionService, { baseUrl: server.url, breaker })
    await Bun.sleep(320)
    const res = await Effect.runPromise(live.invoke({ cls: "c", payload: payload({}) }))
    expect(res.status).toBe(functionv1.InvocationStatus.OK)
    expect(breaker.state).toBe("closed")
    expect(states).toEqual(["open", "half-open", "closed"])
  })

  // Breaker time is Effect's Clock: TestClock moves it, the test waits for nothing.
  test("a failed half-open trial opens the breaker again (TestClock, no real wait)", () =>
    Effect.runPromise(
      Effect.gen(function*() {
        const states: Array<string> = []
        const breaker = new CircuitBreaker("down", {
          failureThreshold: 1,
          resetTimeoutMs: 60_000,
          onStateChange: (s) => states.push(s),
        })
        const down = breaker.protect(Effect.fail("unreachable"), () => true)
        yield* Effect.exit(down)
        expect(breaker.state).toBe("open")
        yield* TestClock.adjust("59 seconds")
        expect(yield* Effect.flip(down)).toBeInstanceOf(CircuitOpen)
        yield* TestClock.adjust("1 second")
        expect(yield* Effect.flip(down)).toBe("unreachable")
        expect(breaker.state).toBe("open")
        expect(states).toEqual(["open", "half-open", "open"])
      }).pipe(Effect.provide(TestClock.layer())),
    ))
})

describe("graceful shutdown", () => {
  test("in-flight calls finish, new connections are refused, stop completes within the grace period", async () => {
    const local = await startServer(testServer({ calls: 0 }, { shutdownGraceMs: 1500 }))
    const client = makeClient(functionv1.FunctionService, {
      baseUrl: local.url,
      timeoutMs: 5000,
      retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    })
    const inflight = Effect.runPromise(client.invoke({ cls: "c", payload: payload({ do: "sleep", ms: 300 }) }))
    await Bun.sleep(50)
    const started = performance.now()
    await local.stop()
    expect((await inflight).status).toBe(functionv1.InvocationStatus.OK)
    expect(performance.now() - started).toBeLessThan(1500)
    const after = await fetch(`${local.url}/healthz`).then(() => "served", () => "refused")
    expect(after).toBe("refused")
  })
})

describe("trace propagation", () => {
  test("the client sends a traceparent whose parent is the caller's current span", async () => {
    const seen: Array<string | null> = []
    const echo = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req) => {
        seen.push(req.headers.get("traceparent"))
        return Response.json({ status: "INVOCATION_STATUS_OK" })
      },
    })
    try {
      const client = makeClient(functionv1.FunctionService, {
        baseUrl: `http://127.0.0.1:${echo.port}`,
        protocol: "connect",
      })
      const callerTrace = await Effect.runPromise(
        Effect.gen(function*() {
          const span = yield* Effect.currentSpan
          yield* client.invoke({ cls: "c" }).pipe(Effect.ignore)
          return span.traceId
        }).pipe(Effect.withSpan("caller")),
      )
      expect(seen[0]).toMatch(new RegExp(`^00-${callerTrace}-[0-9a-f]{16}-01$`))
    } finally {
      echo.stop(true)
    }
  })
})
