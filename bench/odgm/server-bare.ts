// Baseline for bench/odgm: the same object GET/PUT paths answered by a bare Bun.serve over
// bun:sqlite, with the durability ODGM's SQLite engine has (WAL, synchronous=FULL).
import { Database } from "bun:sqlite"

const db = new Database(process.env.DB_PATH ?? ":memory:", { create: true, strict: true })
db.run("PRAGMA journal_mode = WAL")
db.run("PRAGMA synchronous = FULL")
db.run(
  "CREATE TABLE IF NOT EXISTS objects (cls TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (cls, id)) WITHOUT ROWID",
)
const get = db.query<{ version: number; body: string }, [string, string]>(
  "SELECT version, body FROM objects WHERE cls = ? AND id = ?",
)
const put = db.query<{ version: number }, [string, string, string]>(
  "INSERT INTO objects (cls, id, version, body) VALUES (?, ?, 1, ?) ON CONFLICT (cls, id) DO UPDATE SET version = version + 1, body = excluded.body RETURNING version",
)
const path = /^\/api\/class\/([^/]+)\/[^/]+\/objects\/([^/]+)$/

Bun.serve({
  port: Number(process.env.PORT),
  hostname: "127.0.0.1",
  async fetch(req) {
    const url = new URL(req.url)
    const m = path.exec(url.pathname)
    if (!m) return new Response("ok")
    const [, cls, id] = m as unknown as [string, string, string]
    if (req.method === "GET") {
      const row = get.get(cls, id)
      if (!row) return Response.json({ error: { code: "not_found" } }, { status: 404 })
      return Response.json({ cls, id, version: String(row.version), entries: JSON.parse(row.body) })
    }
    if (req.method === "PUT") {
      const body = (await req.json()) as { entries?: unknown }
      if (typeof body.entries !== "object" || body.entries === null) {
        return Response.json({ error: { code: "invalid_argument" } }, { status: 400 })
      }
      const text = JSON.stringify(body.entries)
      const row = put.get(cls, id, text)
      return Response.json({ cls, id, version: String(row!.version), entries: body.entries })
    }
    return new Response(null, { status: 405 })
  },
})
