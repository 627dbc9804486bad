export { OdgmConfig, odgmFlags } from "./config"
export { OdgmApp } from "./OdgmApp"
