import { Schema } from "effect"
import fc from "fast-check"
import {
  type Class,
  ClassKey,
  type Collection,
  type Condition,
  type DataObject,
  type Deployment,
  DeploymentKey,
  type DeploymentUnit,
  type Function,
  type FunctionRoute,
  isEntryKey,
  ObjectId,
  type Package,
  PackageName,
  type Trigger,
  type Value,
} from "../src/index"

/**
 * Arbitraries of valid domain values (every reference resolves), in their decoded form: all
 * defaulted fields present, optional ones present or absent.
 */

const dnsLabel = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/)
export const packageName = dnsLabel.map(Schema.decodeSync(PackageName))
export const classKey = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,10}$/).map(Schema.decodeSync(ClassKey))
const functionKey = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.-]{0,14}$/)
const bindingName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,10}$/)
const objectId = fc.stringMatching(/^[a-z0-9._:-]{1,24}$/).filter((s) => s !== "." && s !== "..")
const entryKey = fc.stringMatching(/^[A-Za-z0-9_.:*-]{1,16}$/)
// Free text: descriptions and messages, including non-ASCII, quotes, newlines.
const text = fc.oneof(fc.constant(""), fc.string({ maxLength: 24 }), fc.string({ unit: "grapheme", maxLength: 12 }))
const nonEmptyText = fc.string({ minLength: 1, maxLength: 16 })
const labelKey = fc.stringMatching(/^[a-z][a-z0-9./-]{0,12}$/)
const headerName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,12}$/)
const envName = fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,10}$/).filter((s) =>
  !["PORT", "ODGM_URL", "OPRC_CLASS", "OPRC_FUNCTION"].includes(s)
)
const millis = fc.integer({ min: 0, max: 4_102_444_800_000 })
const uint = fc.oneof(fc.constant(0), fc.nat(1000), fc.maxSafeNat())
const uint32 = fc.oneof(fc.constant(0), fc.nat(100), fc.nat())
const stringMap = (key: fc.Arbitrary<string>) => fc.dictionary(key, text, { maxKeys: 3, noNullPrototype: true })

export const semver = fc
  .tuple(
    fc.nat(20),
    fc.nat(20),
    fc.nat(200),
    fc.constantFrom("", "-alpha.1", "-rc.2", "-0.3.7"),
    fc.constantFrom("", "+build.5"),
  )
  .map(([a, b, c, pre, build]) => `${a}.${b}.${c}${pre}${build}`)
// Effect's SemVerRange (unlike npm's) rejects build metadata in ranges.
const rangeVersion = semver.map((v) => v.replace(/\+.*$/, ""))
const range = fc.oneof(
  fc.constantFrom("", "*", "1.x", ">=1.2.0 <2.0.0", "1.2.3 - 2.0.0", "^0.1.0 || ^1.0.0"),
  rangeVersion.map((v) => `^${v}`),
  rangeVersion.map((v) => `~${v}`),
)

const triggerEvent = fc.constantFrom(
  "DATA_CREATE",
  "DATA_UPDATE",
  "DATA_DELETE",
  "FUNC_COMPLETE",
  "FUNC_ERROR" as const,
)

const resources = fc.record({
  cpuRequest: fc.constantFrom("", "250m", "1", "0.5"),
  memoryRequest: fc.constantFrom("", "256Mi", "1Gi"),
  cpuLimit: fc.constantFrom("", "1", "2"),
  memoryLimit: fc.constantFrom("", "512Mi", "2G"),
})

const provision = fc.nat(20).chain((maxScale) =>
  fc.record({
    image: fc.constantFrom("", "ghcr.io/acme/fn:1.0", "localhost:5000/x@sha256:abc"),
    command: fc.array(fc.string({ maxLength: 12 }), { maxLength: 3 }),
    url: fc.constantFrom("", "http://localhost:8080", "https://fn.example.com/base"),
    port: fc.integer({ min: 0, max: 65535 }),
    concurrency: uint32,
    resources,
    minScale: maxScale === 0 ? fc.nat(5) : fc.nat(maxScale),
    maxScale: fc.constant(maxScale),
    http2: fc.boolean(),
    workingDir: fc.constantFrom("", "/srv/fn", "examples/shop"),
  })
)

const fn = (key: string): fc.Arbitrary<Function> =>
  fc.record({
    key: fc.constant(key),
    type: fc.constantFrom("CUSTOM", "BUILTIN", "MACRO", "LOGICAL" as const),
    description: text,
    provision,
    config: stringMap(envName),
  })

const targetOf = (cls: string, fn: string | fc.Arbitrary<string>): fc.Arbitrary<Trigger["target"]> =>
  fc.record({
    cls: fc.constant(cls),
    function: typeof fn === "string" ? fc.constant(fn) : fn,
    objectId: fc.oneof(fc.constant(""), objectId),
    headers: stringMap(headerName),
  })

type Skeleton = { readonly key: ClassKey; readonly bindings: ReadonlyArray<string> }

/** Triggers of `self` whose sources and targets resolve within `classes` of package `pkg`. */
const triggers = (pkg: string, self: Skeleton, classes: ReadonlyArray<Skeleton>): fc.Arbitrary<Array<Trigger>> => {
  const targets: Array<fc.Arbitrary<Trigger["target"]>> = [targetOf("foreign-package-x.Remote", bindingName)]
  if (self.bindings.length > 0) targets.push(targetOf("", fc.constantFrom(...self.bindings)))
  for (const c of classes) {
    if (c.bindings.length > 0) targets.push(targetOf(`${pkg}.${c.key}`, fc.constantFrom(...c.bindings)))
  }
  const trigger = triggerEvent.chain((event) => {
    const funcEvent = event === "FUNC_COMPLETE" || event === "FUNC_ERROR"
    if (funcEvent && self.bindings.length === 0) return fc.constant(undefined)
    return fc.record({
      event: fc.constant(event),
      source: funcEvent ? fc.constantFrom(...self.bindings) : fc.oneof(fc.constant("*"), entryKey),
      target: fc.oneof(...targets),
    })
  })
  return fc.array(trigger, { maxLength: 3 }).map((ts) => ts.filter((t): t is Trigger => t !== undefined))
}

const classOf = (
  pkg: string,
  self: Skeleton,
  classes: ReadonlyArray<Skeleton>,
  functions: ReadonlyArray<string>,
): fc.Arbitrary<Class> =>
  fc.record({
    key: fc.constant(self.key),
    description: text,
    state: fc.record({
      keys: fc.uniqueArray(
        fc.record({
          name: entryKey.filter((k) => k !== "*"),
          type: fc.constantFrom("JSON", "STRING", "NUMBER", "BOOLEAN", "BYTES" as const),
          required: fc.boolean(),
          description: text,
        }),
        { selector: (k) => k.name, maxLength: 3 },
      ),
      consistency: fc.constantFrom("EVENTUAL", "READ_YOUR_WRITES", "BOUNDED_STALENESS", "STRONG" as const),
    }),
    bindings: fc.tuple(...self.bindings.map((name) =>
      fc.record({
        name: fc.constant(name),
        function: fc.constantFrom(...functions),
        access: fc.constantFrom("PUBLIC", "INTERNAL", "PRIVATE" as const),
        stateless: fc.boolean(),
        description: text,
      })
    )),
    triggers: triggers(pkg, self, classes),
  })

export const pkg: fc.Arbitrary<Package> = fc
  .record({
    name: packageName,
    functionKeys: fc.uniqueArray(functionKey, { maxLength: 5 }),
    classKeys: fc.uniqueArray(classKey, { maxLength: 4 }),
  })
  .chain(({ name, functionKeys, classKeys }) =>
    fc
      .tuple(...classKeys.map((key) =>
        functionKeys.length === 0
          ? fc.constant<Skeleton>({ key, bindings: [] })
          : fc.uniqueArray(bindingName, { maxLength: 4 }).map((bindings): Skeleton => ({ key, bindings }))
      ))
      .chain((skeletons) =>
        fc.record({
          name: fc.constant(name),
          version: semver,
          metadata: fc.record({
            author: text,
            description: text,
            tags: fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }),
            labels: stringMap(labelKey),
          }),
          classes: fc.tuple(...skeletons.map((s) => classOf(name, s, skeletons, functionKeys))),
          functions: fc.tuple(...functionKeys.map(fn)),
          dependencies: fc.uniqueArray(
            fc.record({ name: packageName.filter((n) => n !== name), version: range }),
            { selector: (d) => d.name, maxLength: 3 },
          ),
          revision: uint,
          createdAt: millis,
          updatedAt: millis,
        }, { requiredKeys: ["name", "version", "metadata", "classes", "functions", "dependencies", "revision"] })
      )
  )

const condition: fc.Arbitrary<Condition> = fc.record({
  type: fc.constantFrom("Available", "Progressing", "Degraded", "NfrObserved"),
  status: fc.constantFrom("True", "False", "Unknown" as const),
  reason: text,
  message: text,
  lastTransitionTime: millis,
  observedGeneration: uint,
}, { requiredKeys: ["type", "status", "reason", "message", "observedGeneration"] })
export { condition }

const phase = fc.constantFrom("Pending", "Deploying", "Running", "Degraded", "Failed", "Deleting" as const)
const nonNegative = fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1e6, noNaN: true, noDefaultInfinity: true })).map(
  (n) => n + 0,
)

const nfr = fc.record({
  minThroughputRps: nonNegative,
  maxLatencyP99Ms: nonNegative,
  availability: fc.oneof(
    fc.constant(0),
    fc.constantFrom(0.9, 0.99, 0.999),
    fc.double({ min: 1e-6, max: 0.999999, noNaN: true }),
  ),
  consistency: fc.constantFrom("EVENTUAL", "READ_YOUR_WRITES", "BOUNDED_STALENESS", "STRONG" as const),
}, { requiredKeys: ["minThroughputRps", "maxLatencyP99Ms", "availability"] })

const odgm = fc.record({
  partitionCount: fc.integer({ min: 1, max: 1024 }),
  replicaCount: fc.nat(7),
  storage: fc.constantFrom("MEMORY", "SQLITE", "NATS" as const),
}, { requiredKeys: ["partitionCount", "replicaCount"] })

const status = fc.record({
  phase,
  reason: text,
  message: text,
  clusters: fc.uniqueArray(
    fc.record({
      cluster: dnsLabel,
      unitId: text,
      phase,
      conditions: fc.array(condition, { maxLength: 3 }),
      reason: text,
      message: text,
      acknowledgedGeneration: uint,
      lastContact: millis,
    }, { requiredKeys: ["cluster", "unitId", "phase", "conditions", "reason", "message", "acknowledgedGeneration"] }),
    { selector: (c) => c.cluster, maxLength: 3 },
  ),
  updatedAt: millis,
  conditions: fc.array(condition, { maxLength: 2 }),
}, { requiredKeys: ["phase", "reason", "message", "clusters", "conditions"] })

export const deployment: fc.Arbitrary<Deployment> = fc.uniqueArray(dnsLabel, { maxLength: 4 }).chain((targets) =>
  fc.record({
    key: dnsLabel.map(Schema.decodeSync(DeploymentKey)),
    packageName,
    classKey,
    targetClusters: fc.constant(targets),
    nfr,
    enforcement: fc.constantFrom("OFF", "OBSERVE", "ENFORCE" as const),
    clusterTemplates: targets.length === 0
      ? fc.dictionary(dnsLabel, nonEmptyText, { maxKeys: 3, noNullPrototype: true })
      : fc.subarray(targets).chain((ks) =>
        fc.tuple(...ks.map(() => nonEmptyText)).map((vs) => Object.fromEntries(ks.map((k, i) => [k, vs[i]!])))
      ),
    odgm,
    revision: uint,
    createdAt: millis,
    updatedAt: millis,
    status,
    placedClusters: targets.length > 0 ? fc.constant(targets) : fc.uniqueArray(dnsLabel, { maxLength: 3 }),
  }, {
    requiredKeys: [
      "key",
      "packageName",
      "classKey",
      "targetClusters",
      "nfr",
      "enforcement",
      "clusterTemplates",
      "odgm",
      "revision",
      "placedClusters",
    ],
  })
)

export const deploymentUnit: fc.Arbitrary<DeploymentUnit> = pkg
  .filter((p) => p.classes.length > 0)
  .chain((p) => {
    const cls = p.classes[0]!
    const bound = new Set(cls.bindings.map((b) => b.function))
    return fc.record({
      id: nonEmptyText,
      deploymentKey: dnsLabel.map(Schema.decodeSync(DeploymentKey)),
      packageName: fc.constant(p.name),
      packageVersion: fc.constant(p.version),
      cluster: dnsLabel,
      cls: fc.constant(cls),
      functions: fc.constant(p.functions.filter((f) => bound.has(f.key))),
      nfr,
      enforcement: fc.constantFrom("OFF", "OBSERVE", "ENFORCE" as const),
      template: text,
      odgm,
      generation: uint,
      labels: stringMap(labelKey),
    })
  })

const route: fc.Arbitrary<FunctionRoute> = fc.record({
  url: fc.constantFrom("", "http://10.0.0.7:8080", "https://fn.example.com"),
  stateless: fc.boolean(),
  access: fc.constantFrom("PUBLIC", "INTERNAL", "PRIVATE" as const),
  timeoutMs: uint32,
  functionKey: text,
})

export const collection: fc.Arbitrary<Collection> = fc
  .record({ pkg: packageName, cls: classKey, names: fc.uniqueArray(bindingName, { maxLength: 4 }) })
  .chain(({ pkg, cls, names }) =>
    fc.record({
      name: fc.constant(`${pkg}.${cls}`),
      partitionCount: fc.integer({ min: 1, max: 1024 }),
      functions: fc.tuple(...names.map(() => route)).map((rs) => Object.fromEntries(names.map((n, i) => [n, rs[i]!]))),
      triggers: triggers(pkg, { key: cls, bindings: names }, []).map((ts) =>
        ts.filter((t) => t.target.cls !== `${pkg}.${cls}` || names.includes(t.target.function))
      ),
      consistency: fc.constantFrom("EVENTUAL", "READ_YOUR_WRITES", "BOUNDED_STALENESS", "STRONG" as const),
    })
  )

const json: fc.Arbitrary<Value> = fc.jsonValue({ maxDepth: 3, noUnicodeString: false }).map((j) =>
  JSON.parse(JSON.stringify(j))
)
export const value: fc.Arbitrary<Value> = fc.oneof(json, fc.uint8Array({ maxLength: 16 }))

export const dataObject: fc.Arbitrary<DataObject> = fc.record({
  cls: fc.tuple(packageName, classKey).map(([p, c]) => `${p}.${c}`),
  partition: fc.nat(1023),
  id: objectId.map(Schema.decodeSync(ObjectId)),
  version: uint,
  // "__proto__" must survive as an ordinary entry key; keys are never empty, blank or control characters.
  entries: fc.dictionary(
    fc.oneof(fc.string({ maxLength: 8 }).filter((k) => isEntryKey(k)), fc.constant("__proto__")),
    value,
    { maxKeys: 4, noNullPrototype: true },
  ),
  createdAt: millis,
  updatedAt: millis,
  triggers: triggers("foreign-package-x", { key: Schema.decodeSync(ClassKey)("Obj"), bindings: ["run"] }, []),
}, { requiredKeys: ["cls", "partition", "id", "version", "entries", "triggers"] })
