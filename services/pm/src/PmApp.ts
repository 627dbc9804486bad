import { serve, serverOptions } from "@oprc/rpc"
import type { PmConfig } from "./config"

/** The Package Manager: its APIs on one port. */
export const PmApp = (config: PmConfig) => serve(serverOptions("oprc-pm", config.server), { rpc: [], rest: [] })
