import { serve, serverOptions } from "@oprc/rpc"
import type { CrmConfig } from "./config"

/** oprc-crm on one port. */
export const CrmApp = (config: CrmConfig) =>
  serve(serverOptions("oprc-crm", config.server), { rpc: [], rest: [] })
