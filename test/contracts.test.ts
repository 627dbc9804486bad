import { describe, expect, test } from "bun:test"
import { readdirSync, readFileSync, statSync } from "node:fs"
import { join, relative } from "node:path"
import type { DescService } from "@bufbuild/protobuf"
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt"
import { crmv1, functionv1, odgmv1, pmv1 } from "@oprc/proto"
import { makeTempDir } from "./harness/index.ts"

const root = new URL("..", import.meta.url).pathname
const bin = join(root, "node_modules", ".bin")

const files = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : [join(dir, f)]))

describe("protobuf contracts", () => {
  test("the committed generated code is exactly what buf generates from proto/", () => {
    const out = makeTempDir("oprc-gen")
    const template = JSON.stringify({
      version: "v2",
      inputs: [{ directory: "proto" }],
      plugins: [{
        local: join(bin, "protoc-gen-es"),
        out,
        include_imports: true,
        opt: ["target=ts", "import_extension=none"],
      }],
    })
    const gen = Bun.spawnSync([join(bin, "buf"), "generate", "--template", template], { cwd: root, stderr: "pipe" })
    expect(gen.stderr.toString()).toBe("")
    const committed = join(root, "packages/proto/src/gen")
    const want = files(out).map((f) => relative(out, f)).sort()
    expect(files(committed).map((f) => relative(committed, f)).sort()).toEqual(want)
    for (const f of want) expect(readFileSync(join(committed, f), "utf8")).toBe(readFileSync(join(out, f), "utf8"))
  }, 60_000)

  test("every read-only RPC is marked NO_SIDE_EFFECTS (so Connect GET works)", () => {
    const services = [pmv1, crmv1, odgmv1, functionv1].flatMap((ns) =>
      Object.values(ns).filter((v): v is DescService =>
        typeof v === "object" && v !== null && "kind" in v && v.kind === "service"
      )
    )
    expect(services.length).toBeGreaterThanOrEqual(10)
    const readOnly = services.flatMap((s) =>
      s.methods.filter((m) => /^(Get|List|Watch)/.test(m.name)).map((m) =>
        [`${s.typeName}/${m.name}`, m.idempotency] as const
      )
    )
    expect(readOnly.length).toBeGreaterThan(10)
    for (const [name, level] of readOnly) {
      expect([name, level]).toEqual([name, MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS])
    }
  })
})
