import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { create, fromJson, toJson } from "@bufbuild/protobuf"
import { ValueSchema } from "@bufbuild/protobuf/wkt"
import { createClient } from "@connectrpc/connect"
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node"
import { Effect, Schema } from "effect"
import { commonv1, functionv1 } from "@oprc/proto"
import {
  AppError,
  defineClass,
  type FunctionServer,
  InvalidInput,
  makeInvoke,
  serve,
  withDefault,
} from "../src/index.ts"

const Doc = defineClass({
  state: Schema.Struct({
    title: withDefault(Schema.String, "untitled"),
    tags: withDefault(Schema.Array(Schema.String), []),
    note: Schema.optionalKey(Schema.String),
    blob: Schema.optionalKey(Schema.Uint8Array),
  }),
  functions: ({ fn, stateless }) => ({
    rename: fn(
      { payload: Schema.Struct({ title: Schema.String }), output: Schema.Struct({ old: Schema.String }) },
      ({ state, payload }) => {
        const old = state.title
        state.title = payload.title
        return { old }
      },
    ),
    tag: fn({ payload: Schema.Struct({ tag: Schema.String }) }, async ({ state, payload }) => {
      await Bun.sleep(1)
      state.tags = [...state.tags, payload.tag]
    }),
    clearNote: fn({}, ({ state }) => {
      delete state.note
    }),
    setBlob: fn({}, ({ state }) => {
      state.blob = new Uint8Array([1, 2, 3])
    }),
    read: fn(
      {},
      ({ state, object }) => ({ ...state, blob: undefined, version: object.version.toString(), exists: object.exists }),
    ),
    drop: fn({}, ({ deleteObject }) => deleteObject()),
    refuse: fn({}, () => {
      throw new AppError("not allowed", { why: "policy" })
    }),
    reject: fn({}, () => {
      throw new InvalidInput("bad request")
    }),
    crash: fn({}, () => {
      throw new TypeError("oops")
    }),
    viaEffect: fn({}, ({ state }) =>
      Effect.sync(() => {
        state.title = "from an effect"
        return "done"
      })),
    failingEffect: fn({}, () => Effect.fail(new AppError("effect failed"))),
    waitingEffect: fn({}, ({ state }) =>
      Effect.sleep("1 millis").pipe(
        Effect.andThen(Effect.sync(() => {
          state.title = "after a wait"
          return "waited"
        })),
      )),
    rejectLater: fn({}, async () => {
      await Bun.sleep(1)
      throw new AppError("refused later")
    }),
    echo: stateless(
      {},
      ({ payload, headers, invocationId }) => ({ payload, contentType: headers["content-type"], invocationId }),
    ),
  }),
})

const handle = makeInvoke(Doc, undefined)
/** The handler's answer as the InvokeResponse message the server sends. */
const invoke = async (r: functionv1.InvokeRequest) => create(functionv1.InvokeResponseSchema, await handle(r))
const json = (v: unknown) =>
  create(commonv1.ValueSchema, { kind: { case: "json", value: fromJson(ValueSchema, v as never) } })
const req = (
  fnName: string,
  opts: { payload?: unknown; entries?: Record<string, commonv1.Value>; stateless?: boolean } = {},
) =>
  create(functionv1.InvokeRequestSchema, {
    invocationId: "inv-1",
    cls: "docs.Doc",
    function: fnName,
    payload: opts.payload === undefined ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(opts.payload)),
    headers: { "content-type": "application/json" },
    ...(opts.stateless
      ? {}
      : { object: { id: "d1", partition: 0, version: 7n, exists: true, entries: opts.entries ?? {} } }),
  })
const output = (r: { output?: Uint8Array }) => JSON.parse(new TextDecoder().decode(r.output))
const setOf = (r: functionv1.InvokeResponse) =>
  Object.fromEntries(
    Object.entries(r.state?.set ?? {}).map((
      [k, v],
    ) => [k, v.kind.case === "json" ? toJson(ValueSchema, v.kind.value) : v.kind.value]),
  )

describe("the wire mapping of a class", () => {
  test("typed state from entries; only changed fields are written; unknown entries untouched", async () => {
    const r = await invoke(
      req("rename", { payload: { title: "new" }, entries: { title: json("old"), other: json({ keep: true }) } }),
    )
    expect(r.status).toBe(functionv1.InvocationStatus.OK)
    expect(output(r)).toEqual({ old: "old" })
    expect(setOf(r)).toEqual({ title: "new" })
    expect(r.state?.delete).toEqual([])
  })

  test("defaults read absent entries; a read writes nothing", async () => {
    const r = await invoke(req("read"))
    expect(output(r)).toEqual({ title: "untitled", tags: [], version: "7", exists: true })
    expect(r.state).toBeUndefined()
  })

  test("async handlers, arrays, removed optional fields, bytes", async () => {
    expect(setOf(await invoke(req("tag", { payload: { tag: "a" }, entries: { tags: json(["x"]) } })))).toEqual({
      tags: ["x", "a"],
    })
    const cleared = await invoke(req("clearNote", { entries: { note: json("n") } }))
    expect(cleared.state?.delete).toEqual(["note"])
    const blob = await invoke(req("setBlob"))
    expect(blob.state?.set?.blob?.kind).toEqual({ case: "bytes", value: new Uint8Array([1, 2, 3]) })
    expect((await invoke(req("drop"))).state?.deleteObject).toBe(true)
  })

  test("Effects as handlers", async () => {
    const ok = await invoke(req("viaEffect"))
    expect([output(ok), setOf(ok)]).toEqual(["done", { title: "from an effect" }])
    const failed = await invoke(req("failingEffect"))
    expect([failed.status, failed.error]).toEqual([functionv1.InvocationStatus.APP_ERROR, "effect failed"])
    const waited = await invoke(req("waitingEffect"))
    expect([output(waited), setOf(waited)]).toEqual(["waited", { title: "after a wait" }])
    const later = await invoke(req("rejectLater"))
    expect([later.status, later.error]).toEqual([functionv1.InvocationStatus.APP_ERROR, "refused later"])
  })

  test("a handler that does not wait is answered at once, one that waits with a promise", () => {
    // (The server then answers a call in the same turn: no promise, abort signal or deadline timer.)
    for (const name of ["rename", "viaEffect", "failingEffect", "refuse", "crash", "reject", "read"]) {
      expect({ name, promise: handle(req(name, { payload: { title: "t" } })) instanceof Promise }).toEqual({
        name,
        promise: false,
      })
    }
    for (const name of ["tag", "waitingEffect", "rejectLater"]) {
      const answer = handle(req(name, { payload: { tag: "t" } }))
      expect({ name, promise: answer instanceof Promise }).toEqual({ name, promise: true })
    }
  })

  test("errors: AppError and any throw -> APP_ERROR, InvalidInput and bad input -> INVALID", async () => {
    const refused = await invoke(req("refuse"))
    expect([refused.status, refused.error, output(refused)]).toEqual([
      functionv1.InvocationStatus.APP_ERROR,
      "not allowed",
      { why: "policy" },
    ])
    expect((await invoke(req("crash"))).status).toBe(functionv1.InvocationStatus.APP_ERROR)
    expect((await invoke(req("reject"))).status).toBe(functionv1.InvocationStatus.INVALID)
    const cases: Array<ReturnType<typeof req>> = [
      req("rename", { payload: { title: 5 } }),
      create(functionv1.InvokeRequestSchema, { ...req("rename"), payload: new TextEncoder().encode("{nope") }),
      req("nosuch"),
      req("rename", { payload: { title: "x" }, stateless: true }),
      req("read", { entries: { tags: json("not a list") } }),
    ]
    for (const c of cases) {
      const r = await invoke(c)
      expect({ fn: c.function, status: r.status }).toEqual({
        fn: c.function,
        status: functionv1.InvocationStatus.INVALID,
      })
      expect(r.error.length).toBeGreaterThan(0)
      expect(r.state).toBeUndefined()
    }
  })

  test("stateless functions see payload, headers and the invocation id", async () => {
    const r = await invoke(req("echo", { payload: { a: 1 }, stateless: true }))
    expect(output(r)).toEqual({ payload: { a: 1 }, contentType: "application/json", invocationId: "inv-1" })
  })
})

describe("serve(): one port, every protocol", () => {
  let server: FunctionServer
  beforeAll(async () => {
    server = await serve(Doc, { port: 0, host: "127.0.0.1", quiet: true })
  })
  afterAll(() => server.close())

  test("Connect (HTTP/1.1, JSON and binary), gRPC (h2c) and gRPC-Web", async () => {
    const transports = [
      createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }),
      createConnectTransport({ baseUrl: server.url, httpVersion: "1.1", useBinaryFormat: true }),
      createGrpcTransport({ baseUrl: server.url }),
      createGrpcWebTransport({ baseUrl: server.url, httpVersion: "1.1" }),
    ]
    for (const t of transports) {
      const r = await createClient(functionv1.FunctionService, t).invoke(req("rename", { payload: { title: "t" } }))
      expect(output(r)).toEqual({ old: "untitled" })
    }
  })

  test("curl-style Connect JSON and /healthz", async () => {
    const health = await fetch(`${server.url}/healthz`)
    expect(await health.json()).toMatchObject({ status: "ok" })
    const r = await fetch(`${server.url}/oprc.function.v1.FunctionService/Invoke`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ function: "echo", payload: Buffer.from("{\"x\":1}").toString("base64") }),
    })
    expect(await r.json()).toMatchObject({ status: "INVOCATION_STATUS_OK" })
  })
})
