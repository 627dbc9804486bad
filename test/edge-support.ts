import * as net from "node:net"
import { join } from "node:path"
import { freePort, rssMb, spawnServer, waitForHttp } from "@oprc/test-harness"

/** Real PM and ODGM processes for the edge tests (limits, fuzzing, responsiveness), by env config. */

const root = join(import.meta.dir, "..")
const entries = { pm: join(root, "services/pm/src/main.ts"), odgm: join(root, "services/odgm/src/main.ts") }
/** `OPRC_EDGE_BINARIES=1` runs the compiled `dist/oprc-pm` and `dist/oprc-odgm` (after `npm run build`). */
const compiled = process.env.OPRC_EDGE_BINARIES === "1"
const command = (
  kind: "pm" | "odgm",
) => (compiled ? [join(root, "dist", `oprc-${kind}`)] : [process.execPath, entries[kind]])

export const spawnService = async (kind: "pm" | "odgm", env: Record<string, string> = {}) => {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const proc = spawnServer({
    name: `edge-${kind}-${port}`,
    cmd: [...command(kind), "--host", "127.0.0.1", "--port", String(port), "--storage", "memory"],
    ports: [port],
    env: { OPRC_TELEMETRY_LOG_LEVEL: "warn", ...env },
    cwd: root,
  })
  await waitForHttp(`${url}/readyz`, (s) => s === 200, 30_000, {
    abortIf: () => (proc.alive() ? undefined : `${kind} exited: ${proc.logTail()}`),
  })
  return { url, port, proc, rssMb: () => rssMb(proc.pid) }
}

/** A raw TCP connection: what it received, and when the server closed it. */
export const rawConnect = (port: number) =>
  new Promise<{ socket: net.Socket; received: () => string; closed: Promise<number> }>((resolve, reject) => {
    let text = ""
    const started = Date.now()
    const socket = net.connect(port, "127.0.0.1")
    const closed = new Promise<number>((r) => socket.once("close", () => r(Date.now() - started)))
    socket.on("data", (d) => (text += d.toString("latin1")))
    socket.on("error", () => undefined)
    socket.once("connect", () => resolve({ socket, received: () => text, closed }))
    socket.once("error", reject)
  })
