import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { statSync } from "node:fs"
import YAML from "yaml"
import { freePort } from "../../../test/harness/index.ts"
import { buildCli, type Cli, cliRunner, runInPty, type Stack, startStack } from "./support"

// Everything goes through the compiled binary, against real servers started here.
let binary: string
let stack: Stack
let cli: Cli

beforeAll(async () => {
  ;[binary, stack] = await Promise.all([buildCli(), startStack()])
  cli = cliRunner(binary, { OPRC_PM_URL: stack.pmUrl, OPRC_ODGM_URL: stack.odgmUrl })
}, 180_000)

afterAll(async () => {
  await stack?.stop()
})

const commandPaths = [
  [],
  ["ctx"],
  ["ctx", "set"],
  ["ctx", "use"],
  ["ctx", "list"],
  ["ctx", "show"],
  ["ctx", "delete"],
  ["pkg"],
  ["pkg", "apply"],
  ["pkg", "get"],
  ["pkg", "list"],
  ["pkg", "delete"],
  ["cls"],
  ["cls", "list"],
  ["fn"],
  ["fn", "list"],
  ["dep"],
  ["dep", "apply"],
  ["dep", "list"],
  ["dep", "get"],
  ["dep", "status"],
  ["dep", "delete"],
  ["clusters"],
  ["clusters", "list"],
  ["obj"],
  ["obj", "get"],
  ["obj", "put"],
  ["obj", "merge"],
  ["obj", "delete"],
  ["obj", "list"],
  ["invoke"],
  ["result"],
  ["dead-letters"],
  ["dead-letters", "list"],
  ["dead-letters", "redrive"],
  ["dead-letters", "delete"],
  ["version"],
]

describe("help and completions", () => {
  test("every command's --help has a description, usage and examples", async () => {
    // Four at a time: the machine is shared.
    const results: Array<Awaited<ReturnType<Cli["run"]>>> = []
    for (let i = 0; i < commandPaths.length; i += 4) {
      results.push(...(await Promise.all(commandPaths.slice(i, i + 4).map((p) => cli.run([...p, "--help"])))))
    }
    for (const [i, r] of results.entries()) {
      const where = `oprc ${commandPaths[i]!.join(" ")} --help`
      expect(r.code, where).toBe(0)
      expect(r.stdout, where).toContain("DESCRIPTION")
      expect(r.stdout, where).toContain("USAGE")
      if (commandPaths[i]!.length > 0) expect(r.stdout, where).toContain("EXAMPLES")
    }
    const top = results[0]!.stdout
    for (
      const c of [
        "ctx",
        "pkg",
        "cls",
        "fn",
        "dep",
        "clusters",
        "obj",
        "invoke",
        "result",
        "dead-letters",
        "dev",
        "version",
      ]
    ) expect(top).toMatch(new RegExp(`^  ${c} `, "m"))
    expect(top).toContain("--output, -o")
  }, 120_000)

  test("completion scripts for bash, zsh and fish name the commands; bash's is valid shell", async () => {
    for (const shell of ["bash", "zsh", "fish"]) {
      const r = await cli.run(["--completions", shell])
      expect(r.code).toBe(0)
      // Plain booleans, not toContain: a failure should not print a whole completion script.
      expect(r.stdout.includes("oprc"), shell).toBe(true)
      expect(r.stdout.includes("dead-letters"), shell).toBe(true)
      expect(r.stdout.includes("--dry-run"), shell).toBe(true)
    }
    const bash = await cli.run(["--completions", "bash"])
    const check = Bun.spawn(["bash", "-n"], { stdin: new TextEncoder().encode(bash.stdout), stderr: "pipe" })
    expect(await check.exited).toBe(0)
    // What bash offers after sourcing the script (COMP_* as bash sets them for <TAB>).
    const script = `${cli.home}/oprc.bash`
    await Bun.write(script, bash.stdout)
    const complete = async (line: string) => {
      const words = line.split(" ")
      const program = `source '${script}'; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${
        words.length - 1
      }; COMP_LINE='${line}'; COMP_POINT=\${#COMP_LINE}; _oprc; echo "\${COMPREPLY[*]}"`
      const p = Bun.spawn(["bash", "-c", program], { stdout: "pipe", stderr: "pipe" })
      return (await new Response(p.stdout).text()).trim().split(" ")
    }
    expect(await complete("oprc de")).toEqual(["dep", "dead-letters", "dev"])
    expect(await complete("oprc dep st")).toEqual(["status"])
    expect(await complete("oprc pkg list --o")).toEqual(["--output", "--odgm-url"]) // global flags too
    expect(await complete("oprc pkg list -o ")).toEqual(["table", "json", "yaml"])
    expect(await complete("oprc dep status --w")).toEqual(["--watch"])
  }, 60_000)
})

describe("contexts", () => {
  test("set, use, list, show, delete; the file is private; flags beat OPRC_* beat the context", async () => {
    const own = cliRunner(binary, {})
    expect((await own.run(["ctx", "set", "a", "--pm-url", "http://127.0.0.1:1111", "--token", "sekret"])).code).toBe(0)
    expect((await own.run(["ctx", "set", "b", "--pm-url", "http://127.0.0.1:2222"])).code).toBe(0)
    expect(statSync(own.configFile).mode & 0o777).toBe(0o600)
    let list = (await own.run(["ctx", "list", "-o", "json"])).json()
    expect(list.currentContext).toBe("a") // the first context becomes current
    expect(list.items.map((c: any) => c.name)).toEqual(["a", "b"])
    expect(JSON.stringify(list)).not.toContain("sekret")
    expect((await own.run(["ctx", "use", "b"])).code).toBe(0)
    expect((await own.run(["ctx", "show", "-o", "json"])).json().pmUrl).toBe("http://127.0.0.1:2222")
    expect(
      (await own.run(["ctx", "show", "-o", "json"], { env: { OPRC_PM_URL: "http://127.0.0.1:3333" } })).json().pmUrl,
    ).toBe("http://127.0.0.1:3333")
    expect(
      (await own.run(["ctx", "show", "-o", "json", "--pm-url", "http://127.0.0.1:4444"], {
        env: { OPRC_PM_URL: "http://127.0.0.1:3333" },
      })).json().pmUrl,
    ).toBe("http://127.0.0.1:4444")
    const viaA = (await own.run(["--context", "a", "ctx", "show", "-o", "json"])).json()
    expect(viaA).toMatchObject({
      context: "a",
      pmUrl: "http://127.0.0.1:1111",
      odgmUrl: "http://localhost:8081",
      token: "(set)",
    })
    const unknown = await own.run(["--context", "nope", "ctx", "show"])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain("no context \"nope\"")
    const badUrl = await own.run(["ctx", "set", "c", "--odgm-url", "ftp://x"])
    expect(badUrl.code).toBe(2)
    expect(badUrl.stderr.trim()).toBe("error: ODGM URL \"ftp://x\" (from --odgm-url) is not an http:// or https:// URL")
    expect((await own.run(["ctx", "delete", "b"])).code).toBe(0)
    list = (await own.run(["ctx", "list", "-o", "yaml"])).stdout
    expect(YAML.parse(list).items.map((c: any) => c.name)).toEqual(["a"])
  }, 60_000)

  test("without OPRC_CONFIG the file is $HOME/.oprc/config.yaml", async () => {
    const own = cliRunner(binary, {})
    expect(
      (await own.run(["ctx", "set", "home", "--pm-url", "http://127.0.0.1:5555"], { env: { OPRC_CONFIG: "" } })).code,
    ).toBe(0)
    expect(statSync(`${own.home}/.oprc/config.yaml`).isFile()).toBe(true)
  }, 30_000)
})

describe("exit codes and errors", () => {
  test("usage mistakes exit 2 with one line and where to find help", async () => {
    const r = await cli.run(["pkg", "apply"])
    expect(r.code).toBe(2)
    expect(r.stdout).toBe("")
    expect(r.stderr.trim().split("\n")).toEqual([
      "error: Missing required flag: --file",
      "Run 'oprc pkg apply --help' for usage.",
    ])
    expect((await cli.run(["pkg", "lst"])).code).toBe(2)
    expect((await cli.run(["-o", "xml", "pkg", "list"])).code).toBe(2)
    const missing = await cli.run(["pkg", "apply", "-f", "/nonexistent/p.yaml"])
    expect(missing.code).toBe(2)
    expect(missing.stderr.trim()).toBe("error: -f /nonexistent/p.yaml: no such file")
  }, 60_000)

  test("an unreachable server exits 3 and names it", async () => {
    const port = await freePort()
    const r = await cli.run(["pkg", "list", "--pm-url", `http://127.0.0.1:${port}`])
    expect(r.code).toBe(3)
    expect(r.stderr.trim().split("\n")).toHaveLength(1)
    expect(r.stderr).toContain(`cannot reach the PM at http://127.0.0.1:${port}: connection refused`)
  }, 30_000)

  test("an invalid package file exits 1 with one line per field path, before anything is sent", async () => {
    const bad = "name: Bad_Name\nversion: one\n"
    const r = await cli.run(["pkg", "apply", "-f", "-"], { stdin: bad })
    expect(r.code).toBe(1)
    const lines = r.stderr.trim().split("\n")
    expect(lines[0]).toBe("error: standard input is not a valid package")
    expect(lines.slice(1).map((l) => l.trim().split(":")[0])).toEqual(["name", "version"])
  }, 30_000)

  test("a server refusal exits 1: one line, then the field path the server named", async () => {
    await cli.run(["pkg", "apply", "-f", "examples/counter/package.yaml"])
    const r = await cli.run(["dep", "apply", "-f", "-"], {
      stdin: "key: wrong\npackageName: counter\nclassKey: Nope\n",
    })
    expect(r.code).toBe(1)
    const lines = r.stderr.trim().split("\n")
    expect(lines[0]).toMatch(/^error: PM: .*\(invalid_argument, HTTP 400\)$/)
    expect(lines[1]).toMatch(/^ {2}classKey: class "Nope" is not defined/)
    const gone = await cli.run(["pkg", "get", "no-such-package"])
    expect(gone.code).toBe(1)
    expect(gone.stderr.trim()).toMatch(/^error: PM: .*no-such-package.*\(not_found, HTTP 404\)$/)
  }, 30_000)
})

describe("packages", () => {
  test(
    "apply creates, re-apply is unchanged, --dry-run shows the diff, apply updates, get/list parse, delete",
    async () => {
      const created = await cli.run(["pkg", "apply", "-f", "examples/shop/package.yaml", "-o", "json"])
      expect(created.code).toBe(0)
      expect(created.json()).toMatchObject({ name: "shop", action: "created" })
      const revision = created.json().revision as number // the store's revision counter is shared by every record
      expect((await cli.run(["pkg", "apply", "-f", "examples/shop/package.yaml", "-o", "json"])).json()).toMatchObject({
        action: "unchanged",
        revision,
      })

      const changed = (await Bun.file(`${import.meta.dir}/../../../examples/shop/package.yaml`).text()).replace(
        /^version: .*$/m,
        "version: 2.0.0",
      ).replace("author: team-a", "author: team-b")
      const dry = await cli.run(["pkg", "apply", "-f", "-", "--dry-run"], { stdin: changed })
      expect(dry.code).toBe(0)
      expect(dry.stdout).toContain("~ version: \"1.0.0\" -> \"2.0.0\"")
      expect(dry.stdout).toContain("~ metadata.author: \"team-a\" -> \"team-b\"")
      expect((await cli.run(["pkg", "get", "shop", "-o", "json"])).json().version).toBe("1.0.0") // dry run changed nothing
      const updated = await cli.run(["pkg", "apply", "-f", "-", "-o", "json"], { stdin: changed })
      expect(updated.json().action).toBe("updated")
      expect(updated.json().revision).toBeGreaterThan(revision)
      expect(updated.json().changes.map((c: any) => c.path).sort()).toEqual(["metadata.author", "version"])

      const got = (await cli.run(["pkg", "get", "shop", "-o", "yaml"])).stdout
      expect(YAML.parse(got)).toMatchObject({ name: "shop", version: "2.0.0", revision: updated.json().revision })
      const list = (await cli.run(["pkg", "list", "-o", "json"])).json()
      expect(list.items.map((p: any) => p.name)).toContain("shop")
      const table = (await cli.run(["pkg", "list"])).stdout.split("\n")
      expect(table[0]).toMatch(/^NAME\s+VERSION\s+REVISION\s+CLASSES\s+FUNCTIONS/)
      expect(table.find((l) => l.startsWith("shop "))).toMatch(/^shop\s+2\.0\.0\s+\d+\s+3\s+10\s/)
      const classes = (await cli.run(["cls", "list", "-p", "shop", "-o", "json"])).json()
      expect(classes.items.map((c: any) => c.globalKey).sort()).toEqual([
        "shop.Customer",
        "shop.Inventory",
        "shop.Order",
      ])
      const fns = (await cli.run(["fn", "list", "-p", "shop", "-o", "json"])).json()
      expect(fns.items).toHaveLength(10)
      // The catalog comes in pages, as other lists do: --limit, and --cursor from the last page.
      const firstFns = (await cli.run(["fn", "list", "-p", "shop", "--limit", "6", "-o", "json"])).json()
      expect(firstFns.items).toHaveLength(6)
      const restFns = (await cli.run(["fn", "list", "-p", "shop", "--cursor", firstFns.nextCursor, "-o", "json"]))
        .json()
      expect([...firstFns.items, ...restFns.items].map((f: any) => f.globalKey)).toEqual(
        fns.items.map((f: any) => f.globalKey),
      )
      expect(restFns.nextCursor).toBeUndefined()
      const clsTable = await cli.run(["cls", "list", "-p", "shop", "--limit", "2"])
      expect(clsTable.stdout.trimEnd().split("\n")).toHaveLength(3) // the header and two classes
      expect(clsTable.stderr).toContain("more: add --cursor ")

      const deleted = await cli.run(["pkg", "delete", "shop"])
      expect(deleted.code).toBe(0)
      expect((await cli.run(["pkg", "get", "shop"])).code).toBe(1)
    },
    90_000,
  )
})

const ansi = /\x1b\[[0-9;]*[A-Za-z]/

describe("deployments", () => {
  test("dep apply from a package file, status --watch on a pseudo-terminal shows progress until Running", async () => {
    expect((await cli.run(["pkg", "apply", "-f", "examples/counter/package.yaml"])).code).toBe(0)
    const applied = await cli.run(["dep", "apply", "-f", "examples/counter/package.yaml", "-o", "json"])
    expect(applied.code).toBe(0)
    expect(applied.json().items[0]).toMatchObject({ key: "counter-dev", action: "created" })

    // The test CRMs stay Deploying for 6 s (ample for the CLI to start on a loaded machine): the watch must show that, then Running.
    const watched = await runInPty(binary, ["dep", "status", "counter-dev", "--watch", "--timeout", "60"], {
      OPRC_PM_URL: stack.pmUrl,
      OPRC_CONFIG: cli.configFile,
    })
    expect(watched.code).toBe(0)
    const screen = watched.output
    expect(screen).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] Deploying for \d+s/) // the spinner line
    expect(screen).toContain("\r\x1b[2K") // redrawn in place
    expect(screen).toMatch(
      /\d\d:\d\d:\d\d counter-dev Deploying \| edge: Deploying, replicas 0\/1 \[.*Progressing=True.*\]/,
    )
    expect(screen).toMatch(/\d\d:\d\d:\d\d counter-dev Running \| edge: Running, replicas 1\/1/)
    expect(screen).toMatch(/deployment counter-dev: Running/)
    expect(screen).toMatch(/edge\s+Running\s+-\s+1\s+Available=True.*Counter\.fn 1\/1/)

    const status = (await cli.run(["dep", "status", "counter-dev", "-o", "json"])).json()
    expect(status).toMatchObject({ key: "counter-dev", phase: "Running" })
    expect(status.clusters[0]).toMatchObject({
      cluster: "edge",
      phase: "Running",
      acknowledgedGeneration: 1,
      functions: [{ function: "Counter.fn", readyReplicas: 1, desiredReplicas: 1 }],
    })
    expect(status.clusters[0].conditions.map((c: any) => c.type)).toContain("Available")

    const again = await cli.run(["dep", "apply", "-f", "examples/counter/package.yaml", "-o", "json"])
    expect(again.json().items[0].action).toBe("unchanged")
    const list = (await cli.run(["dep", "list", "-o", "json"])).json()
    expect(list.items.find((d: any) => d.key === "counter-dev")).toMatchObject({
      packageName: "counter",
      classKey: "Counter",
      placedClusters: ["edge"],
    })
    const clusters = (await cli.run(["clusters", "list", "-o", "json"])).json()
    expect(clusters.items.map((c: any) => [c.name, c.health])).toEqual([["edge", "Healthy"], ["cloud", "Healthy"]])
  }, 120_000)

  test(
    "without a terminal the watch prints plain timestamped lines; a new deployment placed on both clusters",
    async () => {
      const spec = "key: counter-both\npackageName: counter\nclassKey: Counter\ntargetClusters: [edge, cloud]\n"
      const dry = await cli.run(["dep", "apply", "-f", "-", "--dry-run"], { stdin: spec })
      expect(dry.stdout.trim()).toBe("deployment counter-both would be created")
      expect((await cli.run(["dep", "apply", "-f", "-"], { stdin: spec })).code).toBe(0)
      const watched = await cli.run(["dep", "status", "counter-both", "--watch", "--timeout", "60"])
      expect(watched.code).toBe(0)
      expect(watched.stdout).not.toMatch(ansi)
      const lines = watched.stdout.split("\n")
      expect(
        lines.some((l) =>
          /^\d\d:\d\d:\d\d counter-both Running \| edge: Running, replicas 1\/1 \[Available=True .*\] \| cloud: Running, replicas 1\/1 \[Available=True .*\]$/
            .test(l)
        ),
      ).toBe(true)
      expect(
        lines.filter((l) => /^\d\d:\d\d:\d\d /.test(l)).length,
      ).toBeGreaterThanOrEqual(1)

      const deleted = await cli.run(["dep", "delete", "counter-both", "--wait"])
      expect(deleted.code).toBe(0)
      expect(deleted.stdout).toContain("deleted from every cluster")
      expect((await cli.run(["dep", "get", "counter-both"])).code).toBe(1)
      const gone = await cli.run(["dep", "status", "counter-both", "--watch"])
      expect(gone.code).toBe(1)
      expect(gone.stderr.trim()).toBe("error: deployment counter-both does not exist (or was deleted)")
      const now = await cli.run(["dep", "status", "counter-both"])
      expect(now.code).toBe(1)
      expect(now.stderr).toMatch(/^error: PM: .*counter-both.*\(not_found, HTTP 404\)/)
    },
    120_000,
  )
})
