import { runBinary } from "@oprc/runtime"
import { CrmConfig, crmFlags } from "./config"
import { CrmApp } from "./CrmApp"

runBinary({
  name: "oprc-crm",
  summary: "oprc Class Runtime Manager: runs functions and the data grid, enforces NFRs",
  schema: CrmConfig,
  flags: crmFlags,
  app: CrmApp,
})
