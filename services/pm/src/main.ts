import { runBinary } from "@oprc/runtime"
import { PmConfig, pmFlags } from "./config"
import { PmApp } from "./PmApp"

runBinary({
  name: "oprc-pm",
  summary: "oprc Package Manager: packages, deployments, placement over clusters",
  schema: PmConfig,
  flags: pmFlags,
  app: PmApp,
})
