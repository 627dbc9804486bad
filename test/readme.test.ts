import { afterAll, beforeAll, expect, test } from "bun:test"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import {
  binaryDir,
  type DevPlatform,
  freePorts,
  killReplicas,
  makeTempDir,
  removeTempDir,
  startOprcDev,
} from "./harness/index.ts"

// README.md's quick start, replayed as written: `oprc dev --apply examples/counter/package.yaml`
// (what `npm start` runs) on free ports, then every command of the quick-start block, whose
// expected answer is the `#` lines under it. Only the default ports are swapped for the test's.
const repoRoot = join(import.meta.dir, "..")
const dataDir = makeTempDir("readme")
let dev: DevPlatform
let ports: ReadonlyArray<number>

interface Step {
  readonly command: string
  readonly expected: string
}

const steps = (): Array<Step> => {
  const readme = readFileSync(join(repoRoot, "README.md"), "utf8")
  const block = readme.slice(readme.indexOf("<!-- quickstart:start -->"), readme.indexOf("<!-- quickstart:end -->"))
  const body = /```sh\n([\s\S]*?)```/.exec(block)?.[1] ?? ""
  const out: Array<{ command: string; expected: Array<string> }> = []
  for (const line of body.split("\n")) {
    if (line.startsWith("# ")) out[out.length - 1]?.expected.push(line.slice(2))
    else if (line.trim() !== "") out.push({ command: line, expected: [] })
  }
  return out.map((s) => ({ command: s.command, expected: s.expected.join("\n") }))
}

beforeAll(async () => {
  ports = await freePorts(3)
  dev = startOprcDev(join(await binaryDir(), "oprc"), {
    ports: ports as [number, number, number],
    dataDir,
    cwd: repoRoot,
    args: ["--apply", "examples/counter/package.yaml"],
  })
  await dev.waitForOutput(/try it:/, 90_000)
}, 150_000)

afterAll(async () => {
  dev?.kill("SIGINT")
  await dev?.exited
  killReplicas(["counter-dev-local"])
  removeTempDir(dataDir)
})

const parsed = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

test("README quick start: every command answers what the README says", async () => {
  const all = steps()
  expect(all.length).toBeGreaterThanOrEqual(4)
  expect(all.some((s) => s.command.startsWith("curl"))).toBe(true)
  expect(all.some((s) => s.command.includes("services/cli/src/main.ts invoke"))).toBe(true)
  const [pm, odgm, crm] = ports
  for (const step of all) {
    const command = step.command
      .replaceAll("localhost:8080", `127.0.0.1:${pm}`)
      .replaceAll("localhost:8081", `127.0.0.1:${odgm}`)
      .replaceAll("localhost:8088", `127.0.0.1:${crm}`)
    const p = Bun.spawn(["bash", "-eo", "pipefail", "-c", command], {
      cwd: repoRoot,
      env: {
        ...process.env,
        OPRC_PM_URL: dev.pmUrl,
        OPRC_ODGM_URL: dev.odgmUrl,
        OPRC_CRM_URL: dev.crmUrl,
        OPRC_CONFIG: join(dataDir, "cli-config.yaml"),
      },
      stdout: "pipe",
      stderr: "pipe",
    })
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
    expect({ command: step.command, code, err: code === 0 ? "" : err }).toEqual({
      command: step.command,
      code: 0,
      err: "",
    })
    const want = parsed(step.expected)
    if (want !== undefined && parsed(out) !== undefined) expect(parsed(out)).toEqual(want)
    else {
      // Tables: the README shows the first lines (headers); the rest (ages, revisions) varies.
      const lines = step.expected.split("\n").length
      expect(out.trimEnd().split("\n").slice(0, lines).map((l) => l.trimEnd()).join("\n")).toBe(step.expected.trimEnd())
    }
  }
}, 120_000)
