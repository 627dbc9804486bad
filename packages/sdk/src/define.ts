import { Effect, Schema } from "effect"
import type { OdgmClient } from "./odgm.ts"

/** A schema the SDK can decode and encode without extra services. */
export type PlainSchema<T = unknown> = Schema.Codec<T, unknown, never, never>

/** The object state: a Struct whose fields are the object's entries (one JSON value each). */
export type StateSchema = Schema.Codec<object, object, never, never>

/** `state.count += 1` must compile: handlers get a mutable view of the decoded state. */
type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/** What a handler may return: a value, a Promise, or an Effect. */
type Result<A> = A | Promise<A> | Effect.Effect<A, unknown>

type TypeOf<S> = S extends Schema.Top ? S["Type"] : unknown

export interface ObjectInfo {
  readonly id: string
  readonly partition: number
  /** The version this invocation sees; its changes commit only if the object is still at it. */
  readonly version: bigint
  /** False when the object does not exist yet; changing state creates it. */
  readonly exists: boolean
}

/** Everything a function sees about one invocation. */
export interface BaseContext<P> {
  readonly payload: P
  readonly invocationId: string
  /** Global class key "<package>.<Class>". */
  readonly cls: string
  /** Binding name the function was invoked under. */
  readonly fn: string
  /** content-type, traceparent, trigger metadata, ... */
  readonly headers: Readonly<Record<string, string>>
  /** ODGM's APIs (the `ODGM_URL` the platform gives the function); absent when unset. */
  readonly odgm: OdgmClient | undefined
}

export interface StatefulContext<St, P> extends BaseContext<P> {
  /** Mutate it: only the fields that changed are written back. */
  readonly state: Mutable<St>
  readonly object: ObjectInfo
  /** Delete the whole object when the invocation commits. */
  readonly deleteObject: () => void
}

export interface FnSpec<P extends Schema.Top | undefined, O extends Schema.Top | undefined> {
  /** Decodes the JSON payload; a mismatch answers INVALID. An empty payload reads as `{}`. */
  readonly payload?: P
  /** Encodes the returned value to JSON. Without it the value is JSON-serialised as is. */
  readonly output?: O
  readonly description?: string
}

/** A stateful function of a class with state `St`. */
export interface StatefulFn<St, P, O> {
  readonly _tag: "Stateful"
  readonly spec: FnSpec<Schema.Top | undefined, Schema.Top | undefined>
  readonly handler: (ctx: StatefulContext<St, P>) => Result<O>
}

/** A stateless function: invoked on the class, never sees an object. */
interface StatelessFn<P, O> {
  readonly _tag: "Stateless"
  readonly spec: FnSpec<Schema.Top | undefined, Schema.Top | undefined>
  readonly handler: (ctx: BaseContext<P>) => Result<O>
}

export type AnyFn<St> = StatefulFn<St, any, any> | StatelessFn<any, any>

/** The function builders, bound to the class's state type. */
export interface Builders<St> {
  /** A function that reads and changes the object's state. */
  readonly fn: <P extends Schema.Top | undefined = undefined, O extends Schema.Top | undefined = undefined>(
    spec: FnSpec<P, O>,
    handler: (ctx: StatefulContext<St, TypeOf<P>>) => Result<O extends Schema.Top ? O["Type"] : unknown>,
  ) => StatefulFn<St, TypeOf<P>, unknown>
  /** A function without an object (a "stateless" binding). */
  readonly stateless: typeof stateless
}

/** A function without an object (a "stateless" binding). */
export const stateless = <P extends Schema.Top | undefined = undefined, O extends Schema.Top | undefined = undefined>(
  spec: FnSpec<P, O>,
  handler: (ctx: BaseContext<TypeOf<P>>) => Result<O extends Schema.Top ? O["Type"] : unknown>,
): StatelessFn<TypeOf<P>, unknown> => ({
  _tag: "Stateless",
  spec,
  handler: handler as StatelessFn<TypeOf<P>, unknown>["handler"],
})

const builders: Builders<any> = {
  fn: (spec, handler) => ({ _tag: "Stateful", spec, handler: handler as StatefulFn<any, any, unknown>["handler"] }),
  stateless,
}

export interface ClassDef<S extends StateSchema = StateSchema> {
  readonly state: S
  readonly functions: Readonly<Record<string, AnyFn<S["Type"]>>>
}

/**
 * A class: its state schema and its functions. Each state field is one object entry holding a
 * JSON value; a missing entry decodes through the field's default (see {@link withDefault}).
 * `functions` receives the builders already typed with the state, so `state.count` is a number.
 */
export const defineClass = <S extends StateSchema>(def: {
  readonly state: S
  readonly functions: (b: Builders<S["Type"]>) => Readonly<Record<string, AnyFn<S["Type"]>>>
}): ClassDef<S> => ({ state: def.state, functions: def.functions(builders) })

/** A class with stateless functions only. */
export const defineFunctions = (functions: Readonly<Record<string, StatelessFn<any, any>>>): ClassDef => ({
  state: Schema.Struct({}),
  functions,
})

/** A state field that reads as `value` while its entry is absent. */
export const withDefault = <S extends PlainSchema>(schema: S, value: S["Encoded"]) =>
  schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)))

/** Throw it from a handler: the invocation answers APP_ERROR (HTTP 422 at the gateway) with this message. */
export class AppError extends Error {
  constructor(
    message: string,
    /** Sent back as the invocation's JSON output. */
    readonly data?: unknown,
  ) {
    super(message)
    this.name = "AppError"
  }
}

/** Throw it from a handler: the invocation answers INVALID (HTTP 400): the caller's input is wrong. */
export class InvalidInput extends Error {
  constructor(message: string) {
    super(message)
    this.name = "InvalidInput"
  }
}
