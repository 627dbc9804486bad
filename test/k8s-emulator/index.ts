// A Kubernetes API emulator over loopback HTTP, faithful enough for @kubernetes/client-node and
// kubectl: see docs/k8s-emulator.md.
export { type Emulator, type EmulatorHooks, type EmulatorOptions, startEmulator } from "./src/emulator.ts"
export { KEDA_SCALED_OBJECT_CRD, KNATIVE_SERVICE_CRD } from "./src/thirdparty.ts"
export type { Obj } from "./src/types.ts"
