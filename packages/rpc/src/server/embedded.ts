import { Effect, Layer, ManagedRuntime } from "effect"
import { Health } from "@oprc/observability"
import { ServerAddress } from "./Server"

/**
 * Builds a server layer in its own runtime, for tests and embedding (`oprc dev`): returns the
 * bound URL and a `stop` that runs the layer's finalizers (graceful drain included).
 */
export const startServer = async <E>(layer: Layer.Layer<ServerAddress, E, Health>) => {
  const runtime = ManagedRuntime.make(layer.pipe(Layer.provideMerge(Health.layer)))
  const address = await runtime.runPromise(Effect.service(ServerAddress))
  return { url: address.url, port: address.port, runtime, stop: () => runtime.dispose() }
}
