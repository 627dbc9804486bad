import { expect } from "bun:test"
import { collectionsOf, loadPackage } from "./harness.ts"

/** The package YAML is valid, and the standalone collections.yaml says the same as its bindings and triggers. */
export const expectConsistent = (name: string) => {
  const pkg = loadPackage(name)
  const collections = collectionsOf(name, "http://x")
  for (const cls of pkg.classes) {
    const c = collections.find((x) => x.name === `${pkg.name}.${cls.key}`)
    expect(c).toBeDefined()
    const fns = c!.functions as Record<string, { stateless?: boolean; access?: string }>
    expect(Object.keys(fns).sort()).toEqual(cls.bindings.map((b) => b.name).sort())
    for (const b of cls.bindings) {
      expect({ name: b.name, stateless: fns[b.name]?.stateless ?? false, access: fns[b.name]?.access ?? "PUBLIC" })
        .toEqual({ name: b.name, stateless: b.stateless, access: b.access })
    }
    expect(((c!.triggers as unknown[] | undefined) ?? []).length).toBe(cls.triggers.length)
  }
}
