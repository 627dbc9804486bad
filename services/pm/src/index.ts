export { PmConfig, pmFlags } from "./config"
export { PmApp, PmServices } from "./PmApp"
