/** @oprc/runtime: how a server binary runs as a process (config, telemetry, signals, exit codes). */
export { type BinarySpec, exitCodeOf, runBinary, VERSION } from "./binary.ts"
