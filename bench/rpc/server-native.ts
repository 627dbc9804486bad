// Baseline: native Bun.serve doing the echo's work by hand (JSON.parse of the
// request, the same answer fields, JSON.stringify), plus the REST echo. What Bun itself can do here.
Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT),
  async fetch(req) {
    const path = new URL(req.url).pathname
    if (path === "/oprc.function.v1.FunctionService/Invoke" || path === "/api/echo") {
      const r = (await req.json()) as { cls?: string; payload?: string }
      return Response.json(
        path === "/api/echo" ? r : { status: "INVOCATION_STATUS_OK", output: r.payload, headers: { "x-cls": r.cls } },
      )
    }
    return new Response("ok")
  },
})
