import type { Class, Function, Package, PackageInput } from "./package"

/**
 * The file form of a package without Effect Schema's interpreter (~5 µs instead of ~280 µs for the
 * shop package): the same output as the Schema's encode with checks disabled,
 * key for key, which test/package-fast.test.ts checks over generated packages.
 */

type Obj = Record<string, unknown>

/** Copies `value` into `out[key]` unless it is the field's default (how the Schema's encode omits defaults). */
const put = (out: Obj, key: string, value: unknown, isDefault: boolean) => {
  if (!isDefault) out[key] = value
}
const putStr = (out: Obj, key: string, value: string | undefined) =>
  put(out, key, value, value === undefined || value === "")
const putNum = (out: Obj, key: string, value: number | undefined) =>
  put(out, key, value, value === undefined || value === 0)
const putBool = (out: Obj, key: string, value: boolean | undefined) => put(out, key, value, value !== true)
const putList = <A>(out: Obj, key: string, items: ReadonlyArray<A> | undefined, encode: (a: A) => unknown) =>
  put(out, key, items?.map(encode), items === undefined || items.length === 0)
const putMap = (out: Obj, key: string, map: Readonly<Record<string, string>> | undefined) =>
  put(out, key, { ...map }, map === undefined || Object.keys(map).length === 0)
const putStruct = (out: Obj, key: string, encoded: Obj) => put(out, key, encoded, Object.keys(encoded).length === 0)
const same = <A>(a: A) => a

const encodeClass = (c: Class): Obj => {
  const out: Obj = { key: c.key }
  putStr(out, "description", c.description)
  const state: Obj = {}
  putList(state, "keys", c.state?.keys, (k) => {
    const key: Obj = { name: k.name }
    put(key, "type", k.type, k.type === undefined || k.type === "JSON")
    putBool(key, "required", k.required)
    putStr(key, "description", k.description)
    return key
  })
  put(
    state,
    "consistency",
    c.state?.consistency,
    c.state?.consistency === undefined || c.state.consistency === "EVENTUAL",
  )
  putStruct(out, "state", state)
  putList(out, "bindings", c.bindings, (b) => {
    const binding: Obj = { name: b.name, function: b.function }
    put(binding, "access", b.access, b.access === undefined || b.access === "PUBLIC")
    putBool(binding, "stateless", b.stateless)
    putStr(binding, "description", b.description)
    return binding
  })
  putList(out, "triggers", c.triggers, (t) => {
    const target: Obj = {}
    putStr(target, "cls", t.target.cls)
    target["function"] = t.target.function
    putStr(target, "objectId", t.target.objectId)
    putMap(target, "headers", t.target.headers)
    return { event: t.event, source: t.source, target }
  })
  return out
}

const encodeFunction = (f: Function): Obj => {
  const out: Obj = { key: f.key }
  put(out, "type", f.type, f.type === undefined || f.type === "CUSTOM")
  putStr(out, "description", f.description)
  const p = f.provision
  const provision: Obj = {}
  if (p !== undefined) {
    putStr(provision, "image", p.image)
    putList(provision, "command", p.command, same)
    putStr(provision, "url", p.url)
    putNum(provision, "port", p.port)
    putNum(provision, "concurrency", p.concurrency)
    const r = p.resources
    const resources: Obj = {}
    if (r !== undefined) {
      putStr(resources, "cpuRequest", r.cpuRequest)
      putStr(resources, "memoryRequest", r.memoryRequest)
      putStr(resources, "cpuLimit", r.cpuLimit)
      putStr(resources, "memoryLimit", r.memoryLimit)
    }
    putStruct(provision, "resources", resources)
    putNum(provision, "minScale", p.minScale)
    putNum(provision, "maxScale", p.maxScale)
    putBool(provision, "http2", p.http2)
    putStr(provision, "workingDir", p.workingDir)
  }
  putStruct(out, "provision", provision)
  putMap(out, "config", f.config)
  return out
}

/** The file form of a package (defaults omitted), equal to the Schema's encode with checks disabled. */
export const fastEncodePackage = (pkg: Package): PackageInput => {
  const out: Obj = { name: pkg.name, version: pkg.version }
  const m = pkg.metadata
  const metadata: Obj = {}
  if (m !== undefined) {
    putStr(metadata, "author", m.author)
    putStr(metadata, "description", m.description)
    putList(metadata, "tags", m.tags, same)
    putMap(metadata, "labels", m.labels)
  }
  putStruct(out, "metadata", metadata)
  putList(out, "classes", pkg.classes, encodeClass)
  putList(out, "functions", pkg.functions, encodeFunction)
  putList(out, "dependencies", pkg.dependencies, (d) => {
    const dep: Obj = { name: d.name }
    putStr(dep, "version", d.version)
    return dep
  })
  putNum(out, "revision", pkg.revision)
  if (pkg.createdAt !== undefined) out["createdAt"] = pkg.createdAt
  if (pkg.updatedAt !== undefined) out["updatedAt"] = pkg.updatedAt
  return out as PackageInput
}
