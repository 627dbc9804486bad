export { CrmConfig, crmFlags } from "./config"
export { CrmApp } from "./CrmApp"
