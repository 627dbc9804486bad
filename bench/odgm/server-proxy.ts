// A second baseline for bench/odgm's invocations: the least a gateway in front of the function does,
// as a bare Bun.serve. It takes ODGM's REST invoke path, calls the same function over Connect JSON
// with Bun's fetch (keep-alive), and answers the function's output: two HTTP hops, like ODGM, and
// nothing else (no collection, partition, breaker, deadline, metrics, tracing or auth).
// PORT and FN_URL from the environment.
const fnUrl = `${process.env.FN_URL}/oprc.function.v1.FunctionService/Invoke`
const path = /^\/api\/class\/([^/]+)\/[^/]+\/invokes\/([^/]+)$/
const headers = { "content-type": "application/json" }

Bun.serve({
  port: Number(process.env.PORT),
  hostname: "127.0.0.1",
  async fetch(req) {
    const m = path.exec(new URL(req.url).pathname)
    if (req.method !== "POST" || m === null) return new Response(null, { status: 404 })
    const payload = await req.text()
    const answer = await fetch(fnUrl, {
      method: "POST",
      headers,
      body: JSON.stringify({ cls: m[1], function: m[2], payload: Buffer.from(payload).toString("base64") }),
    })
    if (!answer.ok) return new Response(await answer.text(), { status: 502, headers })
    const r = (await answer.json()) as { output?: string }
    return new Response(r.output === undefined ? null : Buffer.from(r.output, "base64"), { headers })
  },
})
