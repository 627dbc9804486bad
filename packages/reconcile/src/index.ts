export { type Controller, type ControllerOptions, makeController, Outcome } from "./Controller.ts"
export { makeWorkQueue, type WorkQueue } from "./WorkQueue.ts"
