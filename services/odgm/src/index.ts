export { OdgmConfig, odgmFlags } from "./config.ts"
export { OdgmApp, OdgmServices } from "./OdgmApp.ts"
