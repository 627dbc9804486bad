// A single nats-server whose store dir survives a restart (the harness's startNats() removes
// its dir on stop, so it cannot show persistence across a server restart).
import { join } from "node:path"
import {
  binary,
  diedWith,
  freePorts,
  LOOPBACK,
  makeTempDir,
  removeTempDir,
  type ServerProcess,
  spawnServer,
  waitForHttp,
} from "../../../../test/harness/index.ts"

export interface RestartableNats {
  readonly url: string
  restart(): Promise<void>
  stop(): Promise<void>
}

export async function startRestartableNats(): Promise<RestartableNats> {
  const bin = await binary("nats-server")
  const base = makeTempDir("odgm-nats")
  const [clientPort, monitorPort] = (await freePorts(2)) as [number, number]
  const start = async () => {
    const sp = spawnServer({
      name: "nats-odgm",
      logFile: join(base, "log.txt"),
      ports: [clientPort, monitorPort],
      cmd: [
        bin,
        "-a",
        LOOPBACK,
        "-p",
        String(clientPort),
        "-m",
        String(monitorPort),
        "-js",
        "-sd",
        join(base, "store"),
        "-n",
        "single",
      ],
    })
    await waitForHttp(`http://${LOOPBACK}:${monitorPort}/healthz`, (s) => s === 200, 10_000, { abortIf: diedWith(sp) })
    return sp
  }
  let sp: ServerProcess = await start()
  return {
    url: `nats://${LOOPBACK}:${clientPort}`,
    async restart() {
      await sp.kill9()
      sp = await start()
    },
    async stop() {
      await sp.kill9()
      removeTempDir(base)
    },
  }
}
