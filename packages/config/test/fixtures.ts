import { Effect, Result, Schema } from "effect"
import {
  AuthConfig,
  type ConfigLoadError,
  loadConfig,
  type LoadOptions,
  section,
  serverConfig,
  TelemetryConfig,
} from "../src/index.ts"

// A root config shaped like a real service's: shared sections plus a service-specific one.
const Storage = Schema.Struct({
  kind: Schema.Literals(["sqlite", "etcd"]).pipe(Schema.withDecodingDefaultKey(Effect.succeed("sqlite" as const))),
  sqlite: section(Schema.Struct({
    path: Schema.String.pipe(Schema.withDecodingDefaultKey(Effect.succeed("oprc.db"))),
    synchronousFull: Schema.Boolean.pipe(Schema.withDecodingDefaultKey(Effect.succeed(true))),
  })),
  etcd: section(Schema.Struct({
    endpoints: Schema.Array(Schema.String).pipe(
      Schema.withDecodingDefaultKey(Effect.succeed(["http://127.0.0.1:2379"])),
    ),
    timeoutMs: Schema.Number.pipe(Schema.withDecodingDefaultKey(Effect.succeed(5000))),
  })),
})

export const Root = Schema.Struct({
  server: section(serverConfig(8081)),
  auth: section(AuthConfig),
  telemetry: section(TelemetryConfig),
  storage: section(Storage),
})
export type Root = typeof Root.Type

export const flags = {
  "--port": "server.port",
  "--host": "server.host",
  "--storage": "storage.kind",
  "--require-client-cert": "server.tls.requireClientCert",
} as const

/** An in-memory file system: reading anything else fails the way node:fs does. */
const memoryFiles = (files: Readonly<Record<string, string>>) => (path: string) => {
  const text = files[path]
  return text === undefined
    ? Effect.fail(Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: "ENOENT" }))
    : Effect.succeed(text)
}

export const load = (
  argv: ReadonlyArray<string>,
  env: Record<string, string | undefined> = {},
  files: Readonly<Record<string, string>> = {},
  extra: Partial<LoadOptions> = {},
): Promise<Result.Result<Root, ConfigLoadError>> =>
  Effect.runPromise(Effect.result(loadConfig(Root, { argv, env, flags, readFile: memoryFiles(files), ...extra })))

export const loadOk = async (...args: Parameters<typeof load>): Promise<Root> => {
  const result = await load(...args)
  if (Result.isFailure(result)) throw new Error(`expected success, got:\n${result.failure.message}`)
  return result.success
}

export const loadErr = async (...args: Parameters<typeof load>): Promise<ConfigLoadError> => {
  const result = await load(...args)
  if (Result.isSuccess(result)) throw new Error(`expected a ConfigLoadError, got ${JSON.stringify(result.success)}`)
  return result.failure
}
