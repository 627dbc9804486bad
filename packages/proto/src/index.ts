// Generated protobuf contracts of oprc, grouped per proto package.
// Usage: import { pmv1, commonv1 } from "@oprc/proto"
export * as commonv1 from "./common"
export * as pmv1 from "./pm"
export * as crmv1 from "./crm"
export * as odgmv1 from "./odgm"
export * as functionv1 from "./fn"
export * as healthv1 from "./health"
