import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** Debian package that ships each binary the tests need. */
export const DEBIAN_PACKAGES: Readonly<Record<string, string>> = {
  etcd: "etcd-server",
  etcdctl: "etcd-client",
  prometheus: "prometheus",
  promtool: "prometheus",
  "nats-server": "nats-server",
  wrk: "wrk",
  kubectl: "kubernetes-client",
  // The Python function example: Debian's protoc 3.21 (python3-grpc-tools bundles 3.5, too old for
  // proto3 `optional`) with the well-known .proto files it imports, and the gRPC Python plugin.
  protoc: "protobuf-compiler libprotobuf-dev",
  grpc_python_plugin: "protobuf-compiler-grpc",
}

/** Debian's own python3 (not a pyenv or venv one) and the modules the Python function example imports. */
export const DEBIAN_PYTHON = "/usr/bin/python3"
export const DEBIAN_PYTHON_MODULES: Readonly<Record<string, string>> = {
  grpc: "python3-grpcio",
  "google.protobuf": "python3-protobuf",
}

export const DEFAULT_BINARIES = ["etcd", "etcdctl", "prometheus", "nats-server"] as const

// Debian puts nats-server in /usr/sbin, which a non-login shell's PATH may lack.
const searchPath = () =>
  [process.env.PATH ?? "", "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].join(":")

export function findBinary(name: string): string | undefined {
  return Bun.which(name, { PATH: searchPath() }) ?? undefined
}

const LOCK_FILE = join(tmpdir(), "oprc-apt-install.lock")
let aptUpdated = false
const resolved = new Map<string, string>()

const lockAgeMs = () => {
  try {
    return Date.now() - statSync(LOCK_FILE).mtimeMs
  } catch {
    return 0
  }
}

const pidAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

// Several test processes may need the same packages at once; apt's own dpkg lock would make
// all but one fail, so they queue on an O_EXCL lock file. A lock left by a dead process is stolen.
async function withInstallLock<T>(fn: () => Promise<T>, timeoutMs = 15 * 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const fd = openSync(LOCK_FILE, "wx")
      writeSync(fd, String(process.pid))
      closeSync(fd)
      break
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
      let owner = NaN
      try {
        owner = Number(readFileSync(LOCK_FILE, "utf8"))
      } catch {}
      if (Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) rmSync(LOCK_FILE, { force: true })
      // A lock without a pid (written by something else, e.g. flock(1), or cut off between create
      // and write) is stale once it is older than that window.
      else if (!(Number.isInteger(owner) && owner > 0) && lockAgeMs() > 10_000) rmSync(LOCK_FILE, { force: true })
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${LOCK_FILE} (held by pid ${owner})`)
      await Bun.sleep(200)
    }
  }
  try {
    return await fn()
  } finally {
    rmSync(LOCK_FILE, { force: true })
  }
}

async function run(cmd: string[], log: (line: string) => void): Promise<void> {
  log(`$ ${cmd.join(" ")}`)
  const proc = Bun.spawn(cmd, {
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    stdout: "inherit",
    stderr: "inherit",
  })
  const code = await proc.exited
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited with ${code}`)
}

export interface EnsureOptions {
  /** Where progress lines go; installs can take a minute and should not look like a hang. */
  log?: (line: string) => void
}

/**
 * Absolute paths of the given binaries, installing their Debian packages with apt-get when
 * missing (root only). Throws a message naming the packages when it cannot install.
 */
export async function ensureBinaries(
  names: readonly string[] = DEFAULT_BINARIES,
  opts: EnsureOptions = {},
): Promise<Record<string, string>> {
  const log = opts.log ?? ((l: string) => console.error(`[system] ${l}`))
  const lookup = () => {
    const missing: string[] = []
    for (const n of names) {
      if (resolved.has(n)) continue
      const p = findBinary(n)
      if (p) resolved.set(n, p)
      else missing.push(n)
    }
    return missing
  }
  let missing = lookup()
  if (missing.length > 0) {
    await aptInstall(
      missing.map((n) => DEBIAN_PACKAGES[n] ?? n),
      `binaries ${missing.join(", ")}`,
      () => lookup().length === 0,
      log,
    )
    missing = lookup()
    if (missing.length > 0) throw new Error(`still missing after apt-get install: ${missing.join(", ")}`)
  }
  return Object.fromEntries(names.map((n) => [n, resolved.get(n)!]))
}

/**
 * Installs Debian packages (root only) under the shared lock, unless `satisfied()` turns true
 * while waiting for it. Throws a message naming the packages when it cannot install.
 */
async function aptInstall(
  packages: readonly string[],
  what: string,
  satisfied: () => boolean,
  log: (line: string) => void,
): Promise<void> {
  const pkgs = [...new Set(packages.flatMap((p) => p.split(" ")))]
  if (process.getuid?.() !== 0) {
    throw new Error(
      `missing ${what}. Not root, so cannot install them; run: sudo apt-get install -y --no-install-recommends ${
        pkgs.join(" ")
      }`,
    )
  }
  const aptGet = findBinary("apt-get")
  if (!aptGet) throw new Error(`missing ${what} and no apt-get to install ${pkgs.join(" ")}`)
  await withInstallLock(async () => {
    // Another process may have installed them while we waited for the lock.
    if (satisfied()) return
    // Waits for a foreign apt/dpkg run instead of failing on its lock.
    const lockWait = ["-o", "DPkg::Lock::Timeout=300"]
    if (!aptUpdated) {
      await run([aptGet, ...lockWait, "update"], log)
      aptUpdated = true
    }
    await run([aptGet, ...lockWait, "install", "-y", "--no-install-recommends", ...pkgs], log)
  })
}

const pythonHas = (module: string): boolean =>
  Bun.spawnSync([DEBIAN_PYTHON, "-c", `import ${module}`], { stdout: "ignore", stderr: "ignore" }).exitCode === 0

/** Debian's python3 path, after installing the Debian packages of any missing module. */
export async function ensurePythonModules(
  modules: readonly string[] = Object.keys(DEBIAN_PYTHON_MODULES),
  opts: EnsureOptions = {},
): Promise<string> {
  const log = opts.log ?? ((l: string) => console.error(`[system] ${l}`))
  const missing = () => modules.filter((m) => !pythonHas(m))
  if (missing().length > 0) {
    await aptInstall(
      ["python3", ...missing().map((m) => DEBIAN_PYTHON_MODULES[m] ?? m)],
      `python modules ${missing().join(", ")}`,
      () => missing().length === 0,
      log,
    )
    if (missing().length > 0) {
      throw new Error(`python modules still missing after apt-get install: ${missing().join(", ")}`)
    }
  }
  return DEBIAN_PYTHON
}

/** Path of one binary, installing it if needed. */
export async function binary(name: string): Promise<string> {
  return (await ensureBinaries([name]))[name]!
}
