import { createHash } from "node:crypto"
import { isAbsolute, resolve } from "node:path"
import type { Collection, DeploymentUnit, Function } from "@oprc/models"

/** Templates the process driver knows; "" lets the CRM choose (always process here). */
export const knownTemplates: ReadonlyArray<string> = ["", "process", "dev"]

/** How one function of a unit runs under the process driver. */
export type FunctionPlan =
  | {
    readonly kind: "process"
    readonly fn: Function
    readonly argv: ReadonlyArray<string>
    readonly cwd: string
    readonly specHash: string
  }
  | { readonly kind: "external"; readonly fn: Function; readonly url: string }
  | { readonly kind: "invalid"; readonly fn: Function; readonly reason: string }

export const globalClass = (unit: DeploymentUnit) => `${unit.packageName}.${unit.cls.key}`

/** Functions the class binds, in the order of the unit's functions. */
export const boundFunctions = (unit: DeploymentUnit): ReadonlyArray<Function> => {
  const bound = new Set(unit.cls.bindings.map((b) => b.function))
  return unit.functions.filter((f) => bound.has(f.key))
}

export const planFunction = (unit: DeploymentUnit, fn: Function, workDir: string): FunctionPlan => {
  const p = fn.provision
  if (p.command.length === 0 || p.command[0] === "") {
    if (p.url !== "") return { kind: "external", fn, url: p.url }
    return {
      kind: "invalid",
      fn,
      reason:
        `function \`${fn.key}\`: provision.command is empty (the process driver starts a function from a command, or routes to provision.url)`,
    }
  }
  const cwd = p.workingDir === ""
    ? resolve(workDir)
    : isAbsolute(p.workingDir)
    ? p.workingDir
    : resolve(workDir, p.workingDir)
  const specHash = createHash("sha256")
    .update(JSON.stringify([p.command, cwd, Object.entries(fn.config).sort(), p.port, globalClass(unit)]))
    .digest("hex")
    .slice(0, 16)
  return { kind: "process", fn, argv: p.command, cwd, specHash }
}

/** Replicas of a function: the scale override (NFR enforcer) if any, else max(1, minScale); within [max(1, minScale), maxScale]. */
export const clampReplicas = (fn: Function, wanted: number): number => {
  const min = Math.max(1, fn.provision.minScale)
  const max = fn.provision.maxScale === 0 ? Number.MAX_SAFE_INTEGER : Math.max(min, fn.provision.maxScale)
  return Math.min(max, Math.max(min, Math.floor(wanted)))
}

export const desiredReplicas = (fn: Function, override: number | undefined): number =>
  clampReplicas(fn, override ?? fn.provision.minScale)

/** The unit's class as an ODGM collection, each binding routed to its function's ready replicas. */
export const collectionFor = (unit: DeploymentUnit, urls: ReadonlyMap<string, ReadonlyArray<string>>): Collection =>
  ({
    name: globalClass(unit) as Collection["name"],
    partitionCount: unit.odgm.partitionCount,
    functions: Object.fromEntries(unit.cls.bindings.map((b) => [b.name, {
      url: urls.get(b.function)?.[0] ?? "",
      urls: [...(urls.get(b.function) ?? [])],
      stateless: b.stateless,
      access: b.access,
      timeoutMs: 0,
      functionKey: b.function,
    }])),
    triggers: unit.cls.triggers,
    consistency: unit.cls.state.consistency,
  }) as Collection
