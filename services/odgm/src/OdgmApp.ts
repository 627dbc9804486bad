import { serve, serverOptions } from "@oprc/rpc"
import type { OdgmConfig } from "./config"

/** oprc-odgm on one port. */
export const OdgmApp = (config: OdgmConfig) =>
  serve(serverOptions("oprc-odgm", config.server), { rpc: [], rest: [] })
