// Finds kubectl 1.20 (Debian's `kubernetes-client`), the client the emulator's kubectl tests
// target. Where another kubectl owns /usr/bin/kubectl (e.g. a cloud SDK's), the Debian package
// cannot be installed over it, so its .deb is fetched with apt-get and unpacked into a cache dir.
import { existsSync, mkdirSync, readdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { binary, findBinary } from "../harness/system.ts"

const CACHE = join(tmpdir(), "oprc-kubectl-1.20")
const CACHED = join(CACHE, "usr", "bin", "kubectl")

async function clientVersion(path: string): Promise<string> {
  const p = Bun.spawn([path, "version", "--client", "--short"], { stdout: "pipe", stderr: "pipe" })
  const out = await new Response(p.stdout).text()
  await p.exited
  return out
}

async function run(cmd: string[], cwd: string): Promise<void> {
  const p = Bun.spawn(cmd, {
    cwd,
    stdout: "inherit",
    stderr: "inherit",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  })
  if ((await p.exited) !== 0) throw new Error(`${cmd.join(" ")} failed`)
}

/** Path of a kubectl 1.20 binary, installing Debian's kubernetes-client when needed. */
export async function kubectl120(): Promise<string> {
  if (existsSync(CACHED)) return CACHED
  const onPath = findBinary("kubectl")
  if (!onPath) {
    const installed = await binary("kubectl")
    if ((await clientVersion(installed)).includes("v1.20")) return installed
  } else if ((await clientVersion(onPath)).includes("v1.20")) return onPath
  if (process.getuid?.() !== 0) {
    throw new Error("kubectl 1.20 missing and not root: run apt-get install kubernetes-client")
  }
  mkdirSync(CACHE, { recursive: true })
  const apt = findBinary("apt-get") ?? "apt-get"
  try {
    await run([apt, "download", "kubernetes-client"], CACHE)
  } catch {
    await run([apt, "update"], CACHE)
    await run([apt, "download", "kubernetes-client"], CACHE)
  }
  const deb = readdirSync(CACHE).find((f) => f.startsWith("kubernetes-client_") && f.endsWith(".deb"))
  if (!deb) throw new Error(`apt-get download kubernetes-client left no .deb in ${CACHE}`)
  await run(["dpkg-deb", "-x", deb, "."], CACHE)
  if (!existsSync(CACHED)) throw new Error(`unpacking ${deb} left no ${CACHED}`)
  return CACHED
}
