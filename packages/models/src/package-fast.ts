import { AccessModifier, Consistency, FunctionType, KeyType, TriggerEvent } from "./enums"
import { isBindingName, isClassKey, isDnsLabel, isEntryKey, isFunctionKey, isHttpUrl, isObjectId } from "./fields"
import type { Class, Function, Package } from "./package"
import { packageIssues } from "./package-checks"
import { isClassRef, isEnvName, isHeaderName, isQuantity, isSemVer, isSemVerRange, reservedEnv } from "./package-rules"

/**
 * The common case of package decoding and encoding without Effect Schema's interpreter, which a
 * CPU profile put at ~70 % of a CreatePackage (about 0.8 ms to decode and 0.3 ms to encode the
 * shop package). `fastDecodePackage` accepts only what `Package` accepts, and returns exactly the
 * value its decode returns; at the first thing it is not sure of (a wrong type, a failed check,
 * an unknown field, a cross-field problem) it gives up and returns undefined, and the caller runs
 * the Schema, which finds every problem and words it. So rejections are the Schema's, byte for
 * byte, and a check can never be weaker here than there; test/fast.test.ts holds the two side by
 * side over generated packages and corrupted ones.
 */

/** Thrown inside the decoder to give up; never escapes it. */
const GIVE_UP: unique symbol = Symbol("give up")
type Obj = Record<string, unknown>

const fail = (): never => {
  throw GIVE_UP
}

/** A plain object whose own keys are all in `fields` ("__proto__" never is: Schema drops it). */
const record = (u: unknown, fields: ReadonlySet<string>): Obj => {
  if (u === null || typeof u !== "object" || Array.isArray(u)) return fail()
  const proto = Object.getPrototypeOf(u)
  if (proto !== Object.prototype && proto !== null) return fail()
  for (const k of Object.keys(u)) if (!fields.has(k)) fail()
  return u as Obj
}

// A key present with the value undefined is an error for the Schema (optionalKey), so present
// means `k in o` here, not "not undefined".
const str = (o: Obj, k: string, valid?: (s: string) => boolean): string => {
  if (!(k in o)) return ""
  const v = o[k]
  if (typeof v !== "string" || (valid !== undefined && v !== "" && !valid(v))) return fail()
  return v
}

const required = (o: Obj, k: string, valid: (s: string) => boolean): string => {
  const v = o[k]
  return typeof v === "string" && valid(v) ? v : fail()
}

const bool = (o: Obj, k: string): boolean => {
  if (!(k in o)) return false
  const v = o[k]
  return typeof v === "boolean" ? v : fail()
}

const literal = <L extends string>(o: Obj, k: string, allowed: ReadonlySet<string>, fallback: L): L => {
  if (!(k in o)) return fallback
  const v = o[k]
  return typeof v === "string" && allowed.has(v) ? (v as L) : fail()
}

const int = (o: Obj, k: string, valid: (n: number) => boolean): number => {
  if (!(k in o)) return 0
  const v = o[k]
  return typeof v === "number" && valid(v) ? v : fail()
}
const isUInt32 = (n: number) => Number.isInteger(n) && n >= 0 && n <= 4294967295
const isPort = (n: number) => Number.isInteger(n) && n >= 0 && n <= 65535
const isUInt = (n: number) => Number.isSafeInteger(n) && n >= 0

const list = <A>(o: Obj, k: string, item: (u: unknown) => A): Array<A> => {
  if (!(k in o)) return []
  const v = o[k]
  if (!Array.isArray(v)) return fail()
  const out: Array<A> = []
  for (let i = 0; i < v.length; i++) out.push(item(v[i]))
  return out
}

const stringMap = (o: Obj, k: string, validKey?: (key: string) => boolean): Record<string, string> => {
  const out: Record<string, string> = {}
  if (!(k in o)) return out
  const v = o[k]
  if (v === null || typeof v !== "object" || Array.isArray(v)) return fail()
  const proto = Object.getPrototypeOf(v)
  if (proto !== Object.prototype && proto !== null) return fail()
  for (const key of Object.keys(v)) {
    const value = (v as Obj)[key]
    if (key === "__proto__" || typeof value !== "string" || (validKey !== undefined && !validKey(key))) fail()
    out[key] = value as string
  }
  return out
}

const nested = <A>(o: Obj, k: string, decode: (u: unknown) => A): A => decode(k in o ? o[k] : {})

const fields = (...names: ReadonlyArray<string>): ReadonlySet<string> => new Set(names)
const keyTypes = new Set<string>(KeyType.literals)
const consistencies = new Set<string>(Consistency.literals)
const accesses = new Set<string>(AccessModifier.literals)
const functionTypes = new Set<string>(FunctionType.literals)
const triggerEvents = new Set<string>(TriggerEvent.literals)

const keySpecFields = fields("name", "type", "required", "description")
const stateFields = fields("keys", "consistency")
const bindingFields = fields("name", "function", "access", "stateless", "description")
const targetFields = fields("cls", "function", "objectId", "headers")
const triggerFields = fields("event", "source", "target")
const classFields = fields("key", "description", "state", "bindings", "triggers")
const resourceFields = fields("cpuRequest", "memoryRequest", "cpuLimit", "memoryLimit")
const provisionFields = fields(
  "image",
  "command",
  "url",
  "port",
  "concurrency",
  "resources",
  "minScale",
  "maxScale",
  "http2",
  "workingDir",
)
const functionFields = fields("key", "type", "description", "provision", "config")
const dependencyFields = fields("name", "version")
const metadataFields = fields("author", "description", "tags", "labels")
const packageFields = fields(
  "name",
  "version",
  "metadata",
  "classes",
  "functions",
  "dependencies",
  "revision",
  "createdAt",
  "updatedAt",
)

const keySpec = (u: unknown) => {
  const o = record(u, keySpecFields)
  return {
    name: required(o, "name", (s) => isEntryKey(s)),
    type: literal(o, "type", keyTypes, "JSON" as const),
    required: bool(o, "required"),
    description: str(o, "description"),
  }
}

const state = (u: unknown) => {
  const o = record(u, stateFields)
  return { keys: list(o, "keys", keySpec), consistency: literal(o, "consistency", consistencies, "EVENTUAL" as const) }
}

const binding = (u: unknown) => {
  const o = record(u, bindingFields)
  return {
    name: required(o, "name", isBindingName),
    function: required(o, "function", isFunctionKey),
    access: literal(o, "access", accesses, "PUBLIC" as const),
    stateless: bool(o, "stateless"),
    description: str(o, "description"),
  }
}

const trigger = (u: unknown) => {
  const o = record(u, triggerFields)
  const event = o["event"]
  if (typeof event !== "string" || !triggerEvents.has(event)) return fail()
  const t = record(o["target"], targetFields)
  return {
    event: event as Class["triggers"][number]["event"],
    source: required(o, "source", (s) => s.length > 0),
    target: {
      cls: str(t, "cls", isClassRef),
      function: required(t, "function", isBindingName),
      objectId: str(t, "objectId", isObjectId),
      headers: stringMap(t, "headers", isHeaderName),
    },
  }
}

const cls = (u: unknown): Class => {
  const o = record(u, classFields)
  return {
    key: required(o, "key", isClassKey) as Class["key"],
    description: str(o, "description"),
    state: nested(o, "state", state),
    bindings: list(o, "bindings", binding),
    triggers: list(o, "triggers", trigger),
  }
}

const resources = (u: unknown) => {
  const o = record(u, resourceFields)
  return {
    cpuRequest: str(o, "cpuRequest", isQuantity),
    memoryRequest: str(o, "memoryRequest", isQuantity),
    cpuLimit: str(o, "cpuLimit", isQuantity),
    memoryLimit: str(o, "memoryLimit", isQuantity),
  }
}

const provision = (u: unknown) => {
  const o = record(u, provisionFields)
  return {
    image: str(o, "image"),
    command: list(o, "command", (c) => (typeof c === "string" ? c : fail())),
    url: str(o, "url", isHttpUrl),
    port: int(o, "port", isPort),
    concurrency: int(o, "concurrency", isUInt32),
    resources: nested(o, "resources", resources),
    minScale: int(o, "minScale", isUInt32),
    maxScale: int(o, "maxScale", isUInt32),
    http2: bool(o, "http2"),
    workingDir: str(o, "workingDir"),
  }
}

const fn = (u: unknown): Function => {
  const o = record(u, functionFields)
  return {
    key: required(o, "key", isFunctionKey),
    type: literal(o, "type", functionTypes, "CUSTOM" as const),
    description: str(o, "description"),
    provision: nested(o, "provision", provision),
    config: stringMap(o, "config", (k) => !reservedEnv.has(k) && isEnvName(k)),
  }
}

const dependency = (u: unknown) => {
  const o = record(u, dependencyFields)
  return { name: required(o, "name", isDnsLabel) as Package["name"], version: str(o, "version", isSemVerRange) }
}

const metadata = (u: unknown) => {
  const o = record(u, metadataFields)
  return {
    author: str(o, "author"),
    description: str(o, "description"),
    tags: list(o, "tags", (t) => (typeof t === "string" ? t : fail())),
    labels: stringMap(o, "labels"),
  }
}

const millis = (o: Obj, k: string): { readonly [K in string]?: number } => {
  if (!(k in o)) return {}
  const v = o[k]
  return typeof v === "number" && Number.isSafeInteger(v) ? { [k]: v } : fail()
}

/** The decoded package when `input` is valid in every respect the Schema checks; otherwise undefined. */
export const fastDecodePackage = (input: unknown): Package | undefined => {
  try {
    const o = record(input, packageFields)
    const pkg: Package = {
      name: required(o, "name", isDnsLabel) as Package["name"],
      version: required(o, "version", isSemVer),
      metadata: nested(o, "metadata", metadata),
      classes: list(o, "classes", cls),
      functions: list(o, "functions", fn),
      dependencies: list(o, "dependencies", dependency),
      revision: int(o, "revision", isUInt),
      ...millis(o, "createdAt"),
      ...millis(o, "updatedAt"),
    }
    return packageIssues(pkg).length === 0 ? pkg : undefined
  } catch (e) {
    if (e === GIVE_UP) return undefined
    throw e
  }
}
