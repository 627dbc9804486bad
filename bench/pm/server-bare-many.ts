// The growth baseline of bench/pm/growth.ts: a bare Bun.serve holding the PM's own GetPackage
// answers (ANSWERS_FILE: a JSON object, package name -> answer text), each as bytes, and answering
// a POST `{"name": ...}` with that package's answer. Served at random over 10 and over 10,000
// names, it shows what the memory hierarchy alone costs a server as the catalog grows (the
// answers outgrow the CPU caches), with none of the PM's work. PORT from the environment.
const answers = new Map<string, Uint8Array>()
for (const [name, text] of Object.entries(await Bun.file(process.env.ANSWERS_FILE!).json() as Record<string, string>)) {
  answers.set(name, Buffer.from(text))
}
const headers = { "content-type": "application/json" }
Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT),
  async fetch(req) {
    if (req.method !== "POST") return new Response(null, { status: 404 })
    const { name } = (await req.json()) as { name?: unknown }
    const answer = typeof name === "string" ? answers.get(name) : undefined
    return answer === undefined ? new Response(null, { status: 404 }) : new Response(answer, { headers })
  },
})
