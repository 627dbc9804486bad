import { runBinary } from "@oprc/runtime"
import { OdgmConfig, odgmFlags } from "./config"
import { OdgmApp } from "./OdgmApp"

runBinary({
  name: "oprc-odgm",
  summary: "oprc Object Data Grid Manager: object state, invocation, event triggers, REST gateway",
  schema: OdgmConfig,
  flags: odgmFlags,
  app: OdgmApp,
})
