import { create } from "@bufbuild/protobuf"
import { type Timestamp, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt"
import { commonv1 } from "@oprc/proto"
import type { Effect } from "effect"
import type { ValidationError } from "../errors"
import { type Class, decodePackage, type Function, type Package, type Trigger } from "../package"
import * as T from "./enums"

/**
 * Package <-> oprc.common.v1.Package. Incoming messages are turned into the file form and decoded,
 * so a proto from the network passes exactly the validation a package file does.
 */

type Input = Record<string, unknown>

/** `{ [key]: ms }` when the timestamp is set. */
export const msField = (
  key: string,
  ts: Timestamp | undefined,
): Input => (ts === undefined ? {} : { [key]: timestampMs(ts) })
export const tsOf = (
  ms: number | undefined,
): Timestamp | undefined => (ms === undefined ? undefined : timestampFromMs(ms))
// Number() of a uint64 at or above 2^53 is not a safe integer, which the schema then rejects.
export const num = (n: bigint): number => Number(n)

export const triggerToProto = (t: Trigger): commonv1.Trigger =>
  create(commonv1.TriggerSchema, {
    event: T.triggerEvent.toProto(t.event),
    source: t.source,
    target: {
      cls: t.target.cls,
      function: t.target.function,
      objectId: t.target.objectId,
      headers: { ...t.target.headers },
    },
  })

export const triggerInput = (t: commonv1.Trigger): Input => ({
  ...(t.event === commonv1.TriggerEvent.UNSPECIFIED ? {} : { event: T.triggerEvent.fromProto(t.event) }),
  source: t.source,
  ...(t.target === undefined ? {} : {
    target: { cls: t.target.cls, function: t.target.function, objectId: t.target.objectId, headers: t.target.headers },
  }),
})

export const classToProto = (c: Class): commonv1.Class =>
  create(commonv1.ClassSchema, {
    key: c.key,
    description: c.description,
    state: {
      keys: c.state.keys.map((k) => ({
        name: k.name,
        type: T.keyType.toProto(k.type),
        required: k.required,
        description: k.description,
      })),
      consistency: T.consistency.toProto(c.state.consistency),
    },
    bindings: c.bindings.map((b) => ({
      name: b.name,
      function: b.function,
      access: T.access.toProto(b.access),
      stateless: b.stateless,
      description: b.description,
    })),
    triggers: c.triggers.map(triggerToProto),
  })

export const classInput = (c: commonv1.Class): Input => ({
  key: c.key,
  description: c.description,
  state: {
    keys: (c.state?.keys ?? []).map((k) => ({
      name: k.name,
      ...T.enumField("type", T.keyType, k.type),
      required: k.required,
      description: k.description,
    })),
    ...T.enumField("consistency", T.consistency, c.state?.consistency ?? 0),
  },
  bindings: c.bindings.map((b) => ({
    name: b.name,
    function: b.function,
    ...T.enumField("access", T.access, b.access),
    stateless: b.stateless,
    description: b.description,
  })),
  triggers: c.triggers.map(triggerInput),
})

export const functionToProto = (f: Function): commonv1.Function =>
  create(commonv1.FunctionSchema, {
    key: f.key,
    type: T.functionType.toProto(f.type),
    description: f.description,
    provision: { ...f.provision, command: [...f.provision.command], resources: { ...f.provision.resources } },
    config: { ...f.config },
  })

export const functionInput = (f: commonv1.Function): Input => {
  const p = f.provision
  return {
    key: f.key,
    ...T.enumField("type", T.functionType, f.type),
    description: f.description,
    ...(p === undefined ? {} : {
      provision: {
        image: p.image,
        command: p.command,
        url: p.url,
        port: p.port,
        concurrency: p.concurrency,
        ...(p.resources === undefined ? {} : {
          resources: {
            cpuRequest: p.resources.cpuRequest,
            memoryRequest: p.resources.memoryRequest,
            cpuLimit: p.resources.cpuLimit,
            memoryLimit: p.resources.memoryLimit,
          },
        }),
        minScale: p.minScale,
        maxScale: p.maxScale,
        http2: p.http2,
        workingDir: p.workingDir,
      },
    }),
    config: f.config,
  }
}

export const packageToProto = (pkg: Package): commonv1.Package =>
  create(commonv1.PackageSchema, {
    name: pkg.name,
    version: pkg.version,
    metadata: { ...pkg.metadata, tags: [...pkg.metadata.tags], labels: { ...pkg.metadata.labels } },
    classes: pkg.classes.map(classToProto),
    functions: pkg.functions.map(functionToProto),
    dependencies: pkg.dependencies.map((d) => ({ name: d.name, version: d.version })),
    revision: BigInt(pkg.revision),
    createdAt: tsOf(pkg.createdAt),
    updatedAt: tsOf(pkg.updatedAt),
  })

/** The file form of a proto package (not yet validated). */
const packageInput = (msg: commonv1.Package): Input => ({
  name: msg.name,
  version: msg.version,
  ...(msg.metadata === undefined ? {} : {
    metadata: {
      author: msg.metadata.author,
      description: msg.metadata.description,
      tags: msg.metadata.tags,
      labels: msg.metadata.labels,
    },
  }),
  classes: msg.classes.map(classInput),
  functions: msg.functions.map(functionInput),
  dependencies: msg.dependencies.map((d) => ({ name: d.name, version: d.version })),
  revision: num(msg.revision),
  ...msField("createdAt", msg.createdAt),
  ...msField("updatedAt", msg.updatedAt),
})

/** Decodes and validates a package received over the network. */
export const packageFromProto = (msg: commonv1.Package): Effect.Effect<Package, ValidationError> =>
  decodePackage(packageInput(msg))
