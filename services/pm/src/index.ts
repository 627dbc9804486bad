export { PmConfig, pmFlags } from "./config"
export { PmApp } from "./PmApp"
