// Baseline: a bare Bun.serve answering every request with a fixed JSON body (the size of the
// PM's real answer), so the PM's numbers can be read as a fraction of what Bun itself can do here.
const body = await Bun.file(process.env.BODY_FILE!).text()
Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT),
  fetch: () => new Response(body, { headers: { "content-type": "application/json" } }),
})
