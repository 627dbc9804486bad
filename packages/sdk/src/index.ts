/**
 * @oprc/sdk: write an oprc class's functions in TypeScript.
 *
 * ```ts
 * const Counter = defineClass({
 *   state: Schema.Struct({ count: withDefault(Schema.Number, 0) }),
 *   functions: ({ fn }) => ({
 *     increment: fn({ payload: Schema.Struct({ by: Schema.optional(Schema.Number) }) }, ({ state, payload }) => {
 *       state.count += payload.by ?? 1
 *       return { count: state.count }
 *     }),
 *   }),
 * })
 * await serve(Counter) // PORT from the environment; Connect, gRPC and gRPC-Web on one port
 * ```
 */
export {
  AppError,
  type BaseContext,
  type Builders,
  type ClassDef,
  defineClass,
  defineFunctions,
  type FnSpec,
  InvalidInput,
  type ObjectInfo,
  type StatefulContext,
  stateless,
  withDefault,
} from "./define.ts"
export { makeInvoke } from "./handler.ts"
export { type InvokeResult, makeOdgmClient, type ObjectSnapshot, type OdgmClient } from "./odgm.ts"
export { type FunctionServer, serve, type ServeOptions } from "./server.ts"
export { type EntryValue } from "./state.ts"
export { eventName, TriggerEvent } from "./trigger.ts"
